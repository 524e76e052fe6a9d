"""The data road: COCO person-keypoint files (``coco``), completeness flags (``flags``), training
samples (``dataset``: crops, augmentation, heatmap targets) and teacher-made pseudo-labels
(``pseudolabel``)."""
