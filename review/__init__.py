"""Review tab: browse COCO people flagged as incompletely annotated and curate a training set."""
