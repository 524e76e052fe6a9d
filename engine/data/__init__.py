"""The data road: COCO person-keypoint files (``coco``, checked by ``schema``), completeness flags (``flags``), training
samples (``dataset``: crops, augmentation, heatmap targets) and teacher-made pseudo-labels
(``pseudolabel``)."""
