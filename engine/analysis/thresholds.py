"""Every threshold of the squat analysis, in one place, each with its reason.

Units: lengths are fractions of the athlete's own leg length or standing hip height (so they
do not depend on the camera's distance or resolution), angles are degrees, times seconds.
Image y grows downwards. Values were chosen from the body's proportions and checked on the
eleven real clips in ``shared/data/clips`` with MediaPipe (see tests/test_mediapipe_clips.py);
no clip has a value of its own.
"""
from __future__ import annotations

# -- which joints to trust -----------------------------------------------------------------------
#: A joint counts as found when its confidence (MediaPipe: visibility; heatmap models: peak
#: height) is at least this. Below it the joint is marked unreliable and never used.
MIN_CONFIDENCE = 0.5
#: A thigh more than this many times as long as the other leg's median thigh length is not a
#: thigh (a hip or knee placed far off the body): its end joint is dropped (angles.drop_stray_joints).
#: Two thighs of one person differ by far less in the image: foreshortening only shortens one.
STRAY_LIMB_RATIO = 2.0
#: ... the other thigh's length taken as its longest within this many seconds either side (a
#: thigh pointing at the camera at the bottom of a front squat looks short for a moment).
STRAY_WINDOW_S = 1.5

# -- the depth signal (reps.py) ------------------------------------------------------------------
#: Depth = 1 - (ankle y - hip y) / standing hip height. The standing hip height of a view
#: segment is this percentile of the hip-above-ankle heights in it: a high percentile, so a
#: clip that is mostly squatting still finds its standing frames, but not the maximum, which
#: one bad detection would set.
STANDING_PERCENTILE = 95.0
#: From the side the depth signal is knee flexion instead: (standing knee angle - knee angle)
#: / 180 deg, on the same scale (a knee at 90 deg gives ~0.5, like a parallel hip drop). Knee
#: angles are true from the side, and need no hip height, which close-ups (hips leaving the top
#: of the frame) and camera cuts spoil; from the front a knee angle is foreshortened, so there
#: the hip drop is used. The standing knee angle is this percentile of the segment's angles.
KNEE_FLEXION_SCALE_DEG = 180.0
#: The predictor's One Euro filter already removes jitter; the depth signal is not filtered
#: again (a running median would lag the last frames of a clip).
#: Gaps (no reliable leg) shorter than this are bridged for counting only (the frames stay
#: marked unreliable); a longer gap ends any rep in progress without counting it.
MAX_GAP_S = 0.6
#: ... except within a rep whose descent has passed DOWN_DEPTH: there a gap of up to this is
#: bridged, and the rep counts if the athlete is next seen standing. The bottom of a squat is
#: where joints are hardest to find (the thighs fold over the hips, the knees over the feet
#: from the front), and a paused squat holds it for a second or two; a descent past DOWN_DEPTH
#: followed by standing is a repetition whether or not its bottom was seen. Set after the
#: heatmap models lost the bottom of held-out side-wall.mp4 for up to 1.6 s (README).
MAX_BOTTOM_GAP_S = 2.0

# -- counting reps (reps.py): hysteresis on the depth signal --------------------------------------
#: A descent counts once the hips have dropped by this fraction of standing hip height. A
#: parallel squat drops the hips by ~0.45-0.55 of it, a quarter squat by ~0.2; standing still,
#: curls, swaying and detector noise move it by < 0.08 (curl-no-squat.mp4).
DOWN_DEPTH = 0.25
#: ... and is complete when the hips come back above this (back to standing). The gap to
#: DOWN_DEPTH is the hysteresis that keeps jitter at the bottom or the top from double counting.
STAND_DEPTH = 0.12
#: A dip that passes PARTIAL_DEPTH but not DOWN_DEPTH is a partial rep: reported, not counted.
PARTIAL_DEPTH = 0.15
#: The clip (or the tracked person) ending during an ascent that is at least two thirds done
#: (depth <= this share of the bottom depth) completes the rep: a person counting would.
END_RETURN_SHARE = 1 / 3
#: Rep start and end times (not the count): the descent starts at the last frame within this
#: of the standing level before it, the ascent ends at the first frame within it after.
REST_BAND = 0.03
#: A rep shorter than this (between the STAND_DEPTH crossings) is a detection glitch, not a
#: squat. Short: a jump squat spends only ~0.6 s below standing (jump-squat-small.mp4).
MIN_REP_S = 0.3
#: At least this share of a rep's frames must have a reliable leg for its figures to be given.
MIN_RELIABLE_SHARE = 0.5

# -- is anybody upright? (posture.py) -------------------------------------------------------------
#: Hip-above-ankle height over the leg's length (thigh + shin): ~0.9-1.0 for a person standing
#: (legs near vertical), ~0.5 or less sitting, kneeling or crouching, ~0 lying. A frame at or
#: above this is upright (the leg points down within about 45 degrees); without the ankle the
#: thigh alone must point down this much. A view segment with no upright frame cannot be
#: judged; a rep counts only if the athlete is upright where it starts and ends.
UPRIGHT_RATIO = 0.7
#: The same from the side: a segment whose standing knee angle stays below this never stands.
UPRIGHT_KNEE_DEG = 150.0
#: A thigh or shin "points down" when its downward share (vertical extent / length) is at least
#: this (within 60 degrees of vertical). Not upright: thigh down and shin not = kneeling (the
#: shin on the floor), shin down and thigh not = sitting (thigh level on a seat), neither =
#: lying. Only the feedback's wording depends on it.
POSTURE_DOWN = 0.5
#: A rep's start and end are judged over this much time on the standing side of each (the
#: posture of the frames just before the descent and just after the ascent).
POSTURE_WINDOW_S = 0.3
#: ... and the athlete is on their feet there when at least this share of the frames whose
#: posture is known are upright (one mislabelled frame does not decide).
UPRIGHT_SHARE = 0.5
#: Seen from the side (where the image shows the knee's true angle), a knee bend whose knee
#: closes below this many degrees at the bottom is not counted: thigh and calf stop a real knee
#: well before that (the human-labelled Penn Action squats, 105 reps with a knee angle, close
#: to 32 degrees at the least from the side), so such joints are not legs; a pose model that
#: takes an arm for a leg shows an elbow curl this way (mobilenetv2 on curl-no-squat.mp4: 11
#: degrees). Front and back views are left alone: there the thigh points at the camera and the
#: image angle can be anything (a Penn Action rear view's left knee reaches 4 degrees).
MIN_SIDE_KNEE_ANGLE_DEG = 20.0
#: With fewer than this share of frames having a reliable leg (hip and knee, and the ankle
#: unless the thigh alone is used), the clip cannot be judged; the share is of the frames with
#: somebody in them (an end card with nobody does not count against it), and somebody must be
#: in at least this share of all frames too (legs seen in a fifth of a clip are not a set).
MIN_VISIBLE_SHARE = 0.3

# -- ankles out of the frame (reps.py) ------------------------------------------------------------
#: A view segment in which fewer than this share of the frames show a whole leg (hip, knee and
#: ankle of one side), but hips and knees are seen, is measured from the thighs alone: from the
#: side the thigh's inclination from vertical / 180 deg (90 deg, thigh level, gives 0.5 like a
#: 90 deg knee), from the front the thigh's foreshortening, THIGH_DROP_SCALE x (1 - thigh height
#: / standing thigh height) (a thigh pointing at the camera at parallel gives ~0.5). A close
#: camera that cuts the feet off still counts reps; the report names the joints missing.
MIN_ANKLE_SHARE = 0.5
THIGH_DROP_SCALE = 0.5
#: A joint found in fewer than this share of the frames is reported as missing.
MISSING_JOINT_SHARE = 0.5

# -- side or front view (view.py) -----------------------------------------------------------------
#: Horizontal gap between the two hip joints over the frame's leg length (thigh + shin, the
#: longer side). From the side the hips overlap (0.02-0.09 on the real clips; a camera a little
#: off the side line gives up to ~0.16); from the front the hip joints are ~0.2-0.3 leg lengths
#: apart. Ankles are not used: stance width varies too much. An oblique camera falls on
#: whichever side of this line it is closer to.
FRONT_MIN_SEPARATION = 0.18
#: The per-frame separation is median-filtered over this many seconds before classifying.
VIEW_MEDIAN_S = 1.0
#: Hysteresis around FRONT_MIN_SEPARATION: a side view turns front above it + this, a front
#: view turns side below it - this, so a separation hovering at the line (a camera a little
#: off the side line, detector noise) does not flip the view frame by frame.
VIEW_HYSTERESIS = 0.03
#: A view segment shorter than this is merged into its longer neighbour: a turn of the body
#: for a rep or two, or a stretch of noisy hips, is not a new view; a cut or a real turn lasts
#: longer (a set seen from a new side is several reps long).
MIN_VIEW_SEGMENT_S = 2.0
#: Knees in a bend: from the side, both knees move forwards of their hip-ankle lines by about a
#: third of a leg length at parallel (0.3-0.5 on the Penn Action side views whose far leg is
#: hidden); from the front they move apart, or towards the camera, which the image does not
#: show. A hips-apart segment whose knees, in its deepest frames, both point the same way by
#: at least this is a side view seen from well off the side line (many Penn Action "left" /
#: "right" videos). Set at 0.16 so that the front-view clips of ``shared/data/clips``, filmed
#: 20-35 degrees off the front (MediaPipe: one knee 0.10-0.18 off its line), stay front; Penn
#: Action side views with smaller offsets are then found front (docs/analysis.md).
SIDE_KNEE_OFFSET = 0.16
#: ... judged only in frames where the hips have dropped at least this far (and within 80% of
#: the segment's deepest): below about a half squat the knees have moved only ~0.1 leg
#: lengths off the line, no more than labelling or detector noise and a turned stance give.
SIDE_KNEE_MIN_DROP = 0.4
#: Thighs in a bend (view.thigh_shares): the share of each thigh's turn that lies in the image
#: plane at the bottom of the squat, about cos(splay) x sin(camera angle from the front): ~0.9
#: from the side, ~0 for the two legs' mean from the front, where the splay moves the knees
#: apart. A hips-apart segment is a side view when every thigh seen turns the same way by at
#: least this (or the knees point one way, SIDE_KNEE_OFFSET). It needs no ankle, so it also
#: decides tracks whose feet are out of the frame, where the knee test cannot run. Every thigh:
#: in a view 25-35 degrees off the front one thigh turns across the image (0.5-0.8) and the
#: other towards the camera (0.1-0.34), as on the clips' front views (front-gray 0.68 / 0.19,
#: the front half of side-then-front 0.34 / 0.77, MediaPipe) and Penn Action's front-labelled
#: 1804 (0.54 / 0.34). Chosen on the even-numbered Penn Action tracks only: 49 of 53 agree
#: for any value from 0.34 to 0.377 (bounded by 1804, labelled front, 0.337, and 1760, labelled
#: left, 0.377), 48 outside it; the odd-numbered ones, held out, give 56 of 61 for any value
#: from 0.30 to 0.42 (docs/analysis.md).
SIDE_THIGH_SHARE = 0.36
#: ... judged only on frames whose thigh has turned at least 60 degrees from vertical (its
#: vertical part at most this share of its standing length), the lower half of them: a shallow
#: bend (a jump squat's dip, jump-squat-small.mp4) turns the thigh too little to tell.
SIDE_THIGH_MAX_V = 0.5
#: Front or back: the share of a hips-apart segment's frames in which the athlete's left hip
#: lies on the image's right (front) or left (back) for the view to be named; with fewer it is
#: 'front or back' (a source unsure of left and right, or an athlete turning).
LATERALITY_SHARE = 0.8

# -- feedback (feedback.py) --------------------------------------------------------------------------
#: Parallel: the hip crease level with the top of the knee. We have hip and knee joint centres,
#: so "below parallel" is hip y >= knee y - PARALLEL_MARGIN x standing thigh length. The margin
#: allows for the hip joint (and detectors' hip point, which sits high) lying above the crease
#: and the knee centre below the kneecap's top: side-view reps at 65 deg knee angle measured
#: -0.07. From the front it also depends on the camera's height: an estimate there.
PARALLEL_MARGIN = 0.10
#: ... and only while both thighs look at least this long (share of standing thigh length): a
#: thigh pointing at the camera is foreshortened and its 2-D knee angle means nothing.
MIN_THIGH_SHARE = 0.6
#: Left and right knee angles differing by more than this at the bottom is reported (front and
#: oblique views only: from the side the far leg is hidden behind the near one).
ASYMMETRY_DEG = 15.0
#: Knee valgus: a knee moving towards the midline relative to its own ankle (the front-view
#: "knee over the foot" check, as in knee-to-ankle separation screening) by more than this
#: fraction of leg length (~7 cm for an adult: clear of detection jitter), beyond where it sat
#: when standing at the rep's start. Front view only. The hip is not used: at the bottom of a
#: front-view squat the thigh points at the camera, and measuring the knee against the
#: hip-ankle line flagged reps on front-gray.mp4 whose knees visibly track outward.
VALGUS_RATIO = 0.08
#: Valgus must be present for this share of a phase (descent or ascent) to be reported.
VALGUS_SHARE = 0.3
#: A descent faster than this is "dropping" rather than controlled.
FAST_DESCENT_S = 0.5
#: Set-level sentences ("on most reps") need at least this share of reps.
SET_SHARE = 0.5
