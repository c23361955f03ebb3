"""Published-schema records of the academic tracking mirrors (see :mod:`.published`): the columns the
official tracking loader reads (``olmo/data/academic_video_track_datasets.py``); cards not readable
here, revision not pinned. Also the academic video points mirror (``AcademicVideoPoint`` in
``olmo/data/academic_video_datasets.py``)."""

from __future__ import annotations

from molmo2_data.datasets.schema_record import PublishedSchema

COLUMNS = {"id": "string", "video": "string", "expression": "string", "mask_id": "list<item: string>",
           "frame_trajectories": "list<item: struct<frame: int64, time: double, points: list<item: struct<id: "
                                 "string, point: list<item: double>, occluded: bool>>>>",
           "sampling_fps": "int64", "width": "int64", "height": "int64", "fps": "double"}
NOTE = "videos: the source benchmark's frames/videos encoded to mp4 at media/videos/tracking/{}/ (licence of the source)"


def _records() -> dict[str, PublishedSchema]:
    from molmo2_data.datasets.academic_tracking import MOT_SETS, SOT_SETS

    out = {}
    for name, set_name, repo, tasks, splits in MOT_SETS:
        out[name] = PublishedSchema(repo, f"columns the official loader reads (revision not pinned); configs "
                                          f"{', '.join(tasks)}; splits {' / '.join(dict.fromkeys(splits.values()))}",
                                    COLUMNS, notes=NOTE.format(set_name))
    for name, set_name in SOT_SETS:
        out[name] = PublishedSchema("allenai/molmo2-single-object-track",
                                    f"columns the official loader reads (revision not pinned); config {set_name}; "
                                    "split train", COLUMNS, notes=NOTE.format(set_name))
    out["molmo2-track-instruction"] = PublishedSchema(
        "allenai/molmo2-track-instruction", "columns the official loader reads (revision not pinned); configs "
        "track, ground, single_point_track; split train",
        {**COLUMNS, "video_dataset": "string", "clip": "string", "start_frame": "int64", "end_frame": "int64"},
        notes="clips: media/videos/tracking/<video_dataset>/<clip>.mp4, shared with Molmo2-VideoTrack")
    out["molmo2-academic-video-points"] = PublishedSchema(
        "allenai/molmo2-academic-video-points", "columns the official loader reads, with the types they imply "
        "(card not readable here; revision not pinned); splits train / val",
        {"subset": "string", "video_name": "string", "dataset": "string", "count": "int64",
         "timestamps": "list<item: double>", "points": "list<item: list<item: struct<x: double, y: double>>>",
         "category": "string", "video_duration": "double", "clip_start_time": "double", "clip_end_time": "double"},
        notes="points in percent of the frame (0-100); videos: media/videos/academic-points/<subset>[/<split>]"
              "[/<dataset>]/<video_name> (the official videos-2fps roots; licence of the source benchmark)")
    return out
