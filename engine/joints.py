"""The six lower-body joints: the one place that defines their order, names and COCO links.

Every array of joints in SquatPose is ordered as ``JOINTS`` (index 0..5). COCO keypoint
indices are 0-based positions in COCO's 17-keypoint list (11..16 are hips, knees, ankles).
"""
from __future__ import annotations

JOINTS: tuple[str, ...] = (
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
NUM_JOINTS = len(JOINTS)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINTS)}

#: 0-based index of each of our joints in COCO's 17-keypoint list.
COCO_INDICES: tuple[int, ...] = (11, 12, 13, 14, 15, 16)
#: COCO's 17 keypoint names (for writing COCO files with the standard category).
COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
#: COCO keypoint order after exchanging left and right (a horizontal flip, or a labeller who
#: took the image's left for the person's): COCO_FLIP_INDEX[i] is the keypoint that takes
#: keypoint i's place. Centre keypoints (the nose) stay.
COCO_FLIP_INDEX: tuple[int, ...] = tuple(
    COCO_KEYPOINT_NAMES.index(("right_" + n[5:]) if n.startswith("left_") else
                              ("left_" + n[6:]) if n.startswith("right_") else n)
    for n in COCO_KEYPOINT_NAMES)
#: COCO's OKS sigmas for the six joints (from pycocotools' COCOeval, same order as JOINTS).
COCO_SIGMAS: tuple[float, ...] = (1.07 / 10, 1.07 / 10, 0.87 / 10, 0.87 / 10, 0.89 / 10, 0.89 / 10)

#: Left/right pairs (indices into JOINTS) swapped by a horizontal flip.
FLIP_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (2, 3), (4, 5))
#: Joint order after a horizontal flip: FLIP_INDEX[i] is where joint i's label goes.
FLIP_INDEX: tuple[int, ...] = (1, 0, 3, 2, 5, 4)

#: Skeleton edges (indices into JOINTS): thigh, shin per side, and the pelvis.
SKELETON: tuple[tuple[int, int], ...] = ((0, 2), (2, 4), (1, 3), (3, 5), (0, 1))

#: Display colours (RGB) per side: left joints orange, right joints blue, centre grey.
SIDE_COLORS = {"left": (255, 140, 0), "right": (30, 144, 255), "center": (200, 200, 200)}
#: One display colour (RGB) per joint, in JOINTS order, for views that tell all six apart (the
#: per-joint heatmaps): left joints in warm colours, right in cool ones; hips the side colour.
JOINT_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 140, 0), (30, 144, 255),    # left hip orange, right hip blue
    (255, 230, 40), (0, 230, 200),    # left knee yellow, right knee cyan
    (230, 40, 40), (170, 90, 255))    # left ankle red, right ankle violet


def side_of(joint: int) -> str:
    """'left' or 'right' for a joint index."""
    return "left" if JOINTS[joint].startswith("left") else "right"


def edge_color(edge: tuple[int, int]) -> tuple[int, int, int]:
    """RGB colour of a skeleton edge: the side of its joints, grey when it crosses sides."""
    a, b = side_of(edge[0]), side_of(edge[1])
    return SIDE_COLORS[a] if a == b else SIDE_COLORS["center"]


# COCO visibility flags.
V_UNLABELED, V_OCCLUDED, V_VISIBLE = 0, 1, 2
