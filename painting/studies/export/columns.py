"""The export's codebook: each file's columns with what they mean, the one source of both the
writers' headers (rows.py) and the README's descriptions (archive.py)."""

from ...inference import methods

# On every row of rounds.csv, every line of events.jsonl and every row of participants.csv.
PARTICIPANT_KEYS = {
    "external_id": "the recruiting platform's participant id from the study link: Prolific's"
    " PROLIFIC_PID, else ?pid=",
    "platform_study_id": "Prolific's STUDY_ID from the link",
    "platform_session_id": "Prolific's SESSION_ID from the link (of the participant's first visit)",
    "condition": "name of the between-subject condition the participant was assigned (empty:"
    " the study has none, and everything was shown)",
    "pilot": "1 for a pilot participant (staff's “Preview as a participant”, or `manage.py"
    " study_bots`): a test run, left out of the balance and the quotas; leave it out of"
    " analyses. Else 0",
}
# What a file column says where the row names a file that is no longer stored.
MISSING = "missing"
ROUND_COLUMNS = {
    "study": "study slug",
    "participant": "anonymous participant code",
    **PARTICIPANT_KEYS,
    "exploration": "exploration id (one participant × one image × one model)",
    "practice": "1 for a round of the practice image (shown first, not part of the study's"
    " images: leave these rounds out of analyses), else 0",
    "attention_check": "1 for a round of an attention-check image (its first masked round is"
    " the answer, judged in participants.csv: leave these rounds out of analyses), else 0",
    "step": "1-based position of the image in this participant's order (practice image"
    " included); empty when staff took the image out of the study afterwards",
    "image_position": "the image's position in the study as staff set it (the fixed order)",
    "image_id": "image id",
    "image_sha256": "sha256 of the stored image (PNG working copy) the participant painted on",
    "model": "model that answered",
    "weights_sha256": "sha256 of the model's weights file",
    "preprocessing": "how the model resized, cropped and normalised the image",
    "fill": "what painted pixels were replaced with (mean, black, blur, inpaint; road: ROAD's"
    " noisy linear imputation, each pixel the mean of its 8 neighbours plus noise, solved at"
    " most 160 pixels on the longer side), or how they were edited (darken: half the"
    " brightness; brighten: halfway to white; grey: colour removed, ITU-R 601 luma)",
    "round_index": "0 is the unmasked original; 1, 2, … are the participant's Classify clicks",
    "masked_percent": "share of the image painted, in %",
    "top5": "JSON list of the five most likely classes: index, label, probability",
    "top1_label": "the model's answer",
    "top1_probability": "its confidence (0–1)",
    "original_class": "the top-1 class of round 0",
    "original_class_probability": "probability of the original class in this round (0–1)",
    "prediction": "what the participant expected the model to say, written before the result",
    "live": "1 when the round was sent by itself after a stroke or tap (the Live switch), 0 for"
    " a Classify click",
    "crop_left": "edits of the whole picture, applied after the fill, in this order: crop, flips,"
    " rotation; what the model classified and the round's masked image are the edited picture,"
    " while the mask and masked_percent stay in the original image's pixels. crop_left: x of"
    " the crop rectangle's left edge in the original image's pixels (empty: not cropped)",
    "crop_top": "y of the crop rectangle's top edge, original image pixels (empty: not cropped)",
    "crop_width": "the crop rectangle's width, original image pixels (empty: not cropped)",
    "crop_height": "the crop rectangle's height, original image pixels (empty: not cropped)",
    "flip_horizontal": "1 when the (cropped) picture was mirrored left–right, else 0",
    "flip_vertical": "1 when it was mirrored top–bottom (after any left–right flip), else 0",
    "rotation": "then turned clockwise by this many degrees: 0, 90, 180 or 270",
    "step_started_at": "when the participant first opened this image (UTC, ISO 8601); its time"
    " limit, if any, runs from here",
    "ms_since_step_start": "ms from the first opening of the image to this round's arrival on"
    " the server",
    "ms_since_previous_round": "ms from the previous round of this image to this one (empty for"
    " round 0)",
    "time_on_step_s": "seconds from the first opening of this image to the first opening of the"
    " participant's next image (or their finish); empty while they are still on it. The same"
    " on every row of the image",
    "too_fast": "1 when time_on_step_s is below the study's min_seconds_per_image (a speeder;"
    " flagged, never refused), 0 when not; empty where the time is unknown or the study sets no"
    " minimum. The same on every row of the image",
    "client_latency_ms": "Classify click to result on screen, measured in the browser",
    "server_latency_ms": "round saved to result recorded, measured on the server",
    "queue_ms": "round saved to a worker starting on it (waiting in the queue), on the server",
    "inference_ms": "model time per image within its batch",
    "batch_size": "rounds classified together in one batch",
    "status": "done or failed",
    "error": "message shown when the round failed",
    "created_at": "when the server received the round (UTC, ISO 8601)",
    "finished_at": "when the result was recorded (UTC, ISO 8601)",
    "mask_file": "path of the mask PNG in this ZIP (white = painted); empty for round 0;"
    f" “{MISSING}” where the round had a mask that is no longer stored (lost with a disk,"
    " deleted by hand, or its participant withdrew while the export ran)",
    "kept_important": "share of the model's important region (the top 20% of its Grad-CAM)"
    " left unpainted (0–1); empty for round 0 and until the heatmap was computed",
    "kept_iou": "IoU of the unpainted region with that important region (0–1)",
    "explanation_shown": "the explanation method the participant's condition fixed (empty:"
    " they could choose any in the menu; see alignment.csv for every method)",
    "rise_method": "RISE curves (computed when the participant pressed “Compare fills and"
    " deletion curves”; else the next five columns are empty): the heatmap's method",
    "deletion_auc_person": "RISE deletion: the original class's probability as the model's crop"
    " is replaced by the round's fill in 10 steps, what the participant kept first (their kept"
    " map blurred as Harmonization blurs it), normalised area under the curve (0–1; lower: the"
    " order found the evidence sooner)",
    "insertion_auc_person": "RISE insertion: likewise as the crop's original pixels are put"
    " back into the blur fill's image, in the same order (0–1; higher: sooner)",
    "deletion_auc_heatmap": "RISE deletion in the heatmap's order (rise_method)",
    "insertion_auc_heatmap": "RISE insertion in the heatmap's order (rise_method)",
}
# The alignment scores, the same in alignment.csv and images.csv (review.ALIGNMENT_FIELDS).
SCORE_COLUMNS = {
    "spearman": "Spearman rank correlation of the human map, blurred as ClickMe/Harmonization"
    " blur it (64×64, Gaussian kernel 10 px, σ 10, edges extended), with the method's map, both"
    " inside the model's crop (-1–1; empty where either map is constant, e.g. nothing painted"
    " inside the crop)",
    "iou_top10": "IoU of the two maps' top 10% (0–1), Harmonization's binarisation",
    "dice_top10": "Dice of the two maps' top 10% (0–1)",
    "pointing_game": "Quantus pointing game: 1 if the map's maximum is in the kept region"
    " (pixels at least half the masks left unpainted, inside the crop, 224×224), else 0",
    "relevance_mass": "Quantus relevance mass accuracy: the map's total inside the kept region"
    " over its total (0–1)",
    "relevance_rank": "Quantus relevance rank accuracy: of the map's k highest pixels (k = the"
    " kept region's size), the share inside the kept region (0–1)",
}
ALIGNMENT_COLUMNS = {
    "study": "study slug",
    "participant": "anonymous participant code",
    "pilot": PARTICIPANT_KEYS["pilot"],
    "exploration": "exploration id",
    "practice": "1 for the practice image, else 0",
    "image_id": "image id",
    "model": "model whose maps these are",
    "level": "round: one round's mask; exploration: the mean of the exploration's masked"
    " rounds (a pixel's share of its masks that kept it)",
    "round_index": "the round (rounds.csv) for level round; empty for level exploration",
    "method": "explanation method: " + ", ".join(f"{k} = {t}" for k, t in methods.CHOICES),
    **SCORE_COLUMNS,
}
IMAGE_COLUMNS = {
    "study": "study slug",
    "pilot": "1: the row pools the pilot participants only; 0: the others only (pilots never mix"
    " into a human map)",
    "image_id": "image id",
    "image_title": "the image's title",
    "model": "model whose maps these are",
    "method": "explanation method (as in alignment.csv)",
    "people": "explorations of the image in this export with at least one masked round: the"
    " human map is their mean, and the ceiling rests on them (on a seeded random 500 of them"
    " beyond that)",
    "human_ceiling": "split-half ceiling: the Spearman of the blurred mean maps of two random"
    " halves of the people, averaged over 100 seeded splits (empty below two people)",
    "alignment_score": "spearman ÷ human_ceiling: ClickMe/Harmonization's human alignment score"
    " (empty where either is unknown)",
    **SCORE_COLUMNS,
}
PARTICIPANT_COLUMNS = {
    "participant": "anonymous participant code",
    **PARTICIPANT_KEYS,
    "status": "consented (no image opened yet), in progress, finished, screened out (failed the"
    " study's number of attention checks: only their check answers and check rounds kept),"
    " returned (the platform says they returned their submission; marked in admin), or timed"
    " out (never finished, and the study's time limit passed or nothing happened for"
    " XAI_STUDY_SLOT_TIMEOUT_MINUTES). Withdrawn participants have no rows",
    "assignment_index": "the participant's consent was the study's n-th (1-based), counted in the"
    " transaction that assigned the condition: the order the balanced randomisation saw (each"
    " took a least-filled condition, ties broken at random); gaps are participants who"
    " withdrew (or were deleted by a researcher)",
    "order_seed": "seed of the participant's random image order (empty: the study's fixed order)",
    "image_order": "the image ids in the order the participant was shown them, space-separated"
    " (practice image first)",
    "consent_version": "version of the consent text agreed to",
    "consented_at": "time of consent (UTC)",
    "finished_at": "time the participant finished (UTC), empty if they did not",
    "screened_out_at": "time the participant was screened out (UTC), empty if not",
    "returned_at": "time the submission was marked returned (UTC), empty if not",
    "closing_answer": "answer to the closing question",
    "blur_events": "times the browser window lost the focus, over the rounds in this export"
    " (practice included; those after an image's last Classify too, where the browser sent"
    " them as the participant left the page)",
    "hidden_events": "times the tab was switched away from (hidden), likewise",
    "rounds": "number of rounds in this export (done or failed), originals included, practice"
    " and attention-check rounds not counted",
    "checks_passed": "attention checks answered and passed (the marked region painted enough,"
    " and little outside it, by the thresholds the study set)",
    "checks_failed": "attention checks answered and failed; a check not answered (its time ran"
    " out) counts in neither",
    "check_covered": "the attention checks' share of the marked region painted (0–1): the lowest"
    " over the participant's answers (empty: none answered)",
    "check_outside": "the share of the image outside the region painted (0–1): the highest over"
    " the participant's answers (empty: none answered)",
    "duration_s": "seconds from consent to finish (empty: not finished)",
    "too_fast": "1 when the participant spent fewer than the study's min_seconds_per_image"
    " seconds on any image they moved on from (practice and checks not counted; time_on_step_s"
    " in rounds.csv), else 0; empty when the study sets no minimum. Flagged, never refused",
}


# quiz.csv: one row per try at the study's comprehension quiz (after its instruction pages).
QUIZ_COLUMNS = {
    "participant": "anonymous participant code",
    **PARTICIPANT_KEYS,
    "attempt": "1 for the participant's first try at the quiz, 2 for the second, ...",
    "answered_at": "time of the try (UTC)",
    "correct": "1 when every answer was right (the participant then went on to the images)",
    "wrong": "the questions answered wrongly, by their number in the study file (from 1),"
    " space-separated",
    "answers": "the option chosen for each question, in order, as a JSON list",
}
# events.csv: one row per event of the brush log, flattened (no nested values).
EVENT_COLUMNS = {
    "study": "study slug",
    "participant": "anonymous participant code",
    **PARTICIPANT_KEYS,
    "exploration": "exploration id",
    "practice": "1 for an event on the practice image, else 0",
    "attention_check": "1 for an event on an attention-check image, else 0",
    "step": "1-based position of the image in this participant's order (as in rounds.csv)",
    "round_index": "the round (rounds.csv) whose Classify sent this event: the events before a"
    " Classify belong to the round it made",
    "event_index": "0-based position of the event in its round's log",
    "type": "stroke, region (a tap of the Region tool: a whole superpixel painted or erased),"
    " undo, redo, clear, restore (a past round's mask, or the page's own at load), tool, fill,"
    " classify; blur and focus (the browser window lost or got the focus),"
    " hidden and visible (the tab was switched away from or back to); view (a zoom or pan"
    " ended: zoom, and x/y the picture's pixel at the view's top-left corner); edit (an edit"
    " of the whole picture: see edit)",
    "t": "ms since the round began (the previous Classify, or the page load), browser clock;"
    " for an event sent on leaving, ms since the round's Classify (or the later page load)",
    "sent_on_leave": "1 for an event logged after the round's Classify and sent as the"
    " participant left the image's page (Next, Finish, a reload, closing the tab): focus,"
    " blur, hidden and visible only; else 0",
    "tool": "stroke, region: paint or erase; tool: the tool chosen",
    "size": "stroke: brush diameter in image pixels",
    "pointer": "stroke, region: mouse, pen, touch or keyboard (arrow keys with Space held)",
    "segment": "region: the superpixel id tapped: its label in the image's SLIC segmentation"
    " (about 300 regions), stored in segments/<image_id>.png in this ZIP as id = red + 256 ×"
    " green at each pixel",
    "points": "stroke: number of points sampled",
    "x": "stroke: x of its first point, in image pixels from the left; region: x of the tap;"
    " view: x of the view's top-left corner",
    "y": "stroke: y of its first point, in image pixels from the top; region: y of the tap;"
    " view: y of the view's top-left corner",
    "zoom": "view: the zoom (1 = the whole picture fits)",
    "first_point_t": "stroke: ms since the round began at its first point",
    "last_point_t": "stroke: ms since the round began at its last point",
    "fill": "fill: the fill chosen",
    "mask": "restore: URL of the restored round's mask (empty: an empty mask)",
    "source": "restore: load when it is the mask the page opened with",
    "edit": "edit: the edit of the whole picture made (rotate: a quarter turn clockwise;"
    " flip_horizontal, flip_vertical; crop; reset: all edits undone; restore: a past round's"
    " edits, with its mask, from the history); the edits in force are the round's (rounds.csv)",
    "crop": "edit crop: the rectangle, left,top,width,height in the original image's pixels"
    " (empty: the crop was removed)",
}
