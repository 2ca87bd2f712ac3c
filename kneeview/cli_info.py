"""``kneeview info PATH [--json]``: describe a recording before analysing it."""
from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="describe a recording (session folder or video)")
    p.add_argument("path", help="session folder or video file")
    p.add_argument("--calibration", help="calibration file (.xcp, .qca.txt, .toml) instead of the one found")
    p.add_argument("--c3d", help="C3D ground truth instead of <trial>.c3d")
    p.add_argument("--camera", help="device id of the camera that filmed the video")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    """Exit 0 whenever the recording can be opened, listing its problems (a camera not matched
    or not matching the video, a C3D that is unreadable, truncated or without joint centres, a
    truncated video); exit 2 (one line) only when the video, the calibration or the folder
    cannot be read at all."""
    from .io.recording import describe_recording, open_recording

    rec = open_recording(args.path, calibration=args.calibration, c3d=args.c3d, device_id=args.camera, strict=False)
    info = describe_recording(rec)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        print(format_info(info))
    return 0


def _fmt_num(v, nd=2) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def format_info(info: dict) -> str:
    lines = [f"Recording  {info['recording']}", f"Trial      {info['trial']}"]
    if len(info["views"]) > 1:
        lines.append(f"Views      {len(info['views'])} synchronised videos")
    for i, v in enumerate(info["views"]):
        lines.append(f"View {i + 1:<6d}{v['video']}")
        lines.append(
            f"  video    {v['width']}x{v['height']} px, {v['fps']:.3f} fps, {v['frame_count']} frames "
            f"({v['duration_s']:.2f} s), codec {v['codec'].strip() or '?'}"
            + (f"; the container declares {v['declared_frame_count']}" if (v.get("declared_frame_count") or 0) > v["frame_count"] else "")
        )
        cam = v["camera"]
        if cam:
            d = cam["distortion"]
            if d["model"] == "vicon_radial":
                dist = f"Vicon radial, centre ({d['centre_px'][0]:.2f}, {d['centre_px'][1]:.2f}) px, w = {', '.join(f'{w:.4g}' for w in d['w'])}"
            elif d["model"] == "brown_conrady":
                dist = "Brown-Conrady k1 k2 p1 p2 k3 = " + ", ".join(f"{w:.4g}" for w in d["k1_k2_p1_p2_k3"])
            else:
                dist = d["model"]
            lines += [
                f"  camera   device {cam['device_id']} ({cam['name']}, {cam['type'] or cam['kind']}), matched by {v['camera_match']}",
                f"           focal length {cam['focal_length_px']:.2f} px, principal point "
                f"({cam['principal_point_px'][0]:.2f}, {cam['principal_point_px'][1]:.2f}) px",
                f"           distortion: {dist}",
                f"           image error {_fmt_num(cam['image_error_px'], 3)} px, world error {_fmt_num(cam['world_error_mm'], 3)} mm",
            ]
        else:
            lines.append(f"  camera   none ({v['camera_match']})")
    cal = info["calibration"]
    lines.append(
        f"Calibration {cal['path']} ({cal['format']}, {cal['cameras']} cameras, video: {', '.join(cal['video_cameras']) or 'none'})"
        if cal else "Calibration none"
    )
    gt = info["ground_truth"]
    if gt is None:
        lines.append("Ground truth none")
    elif "error" in gt:
        lines.append(f"Ground truth {gt['path']}: {gt['error']}")
    else:
        gaps = ", ".join(f"{j} {g['missing_samples']} samples in {g['gaps']} gaps" for j, g in gt["gaps"].items() if g["missing_samples"])
        lines += [
            f"Ground truth {gt['path']} ({gt['reader']})",
            f"  {gt['rate_hz']:g} Hz, {gt['frames']} frames ({gt['duration_s']:.2f} s)"
            + (f" of the {gt['frames_declared']} its header declares" if (gt.get("frames_declared") or 0) > gt["frames"] else ""),
            "  joint centres: " + ", ".join(f"{j}={lab}" for j, lab in gt["joint_centres"].items()),
        ]
        if gt["missing_joints"]:
            lines.append("  missing: " + ", ".join(gt["missing_joints"]))
        lines.append("  gaps: " + (gaps or "none"))
    meta = info.get("metadata")
    if meta:
        lines.append("Trial info " + ", ".join(f"{k}={meta[k]}" for k in ("task", "athlete_id", "year", "side") if k in meta))
    for p in info["problems"]:
        lines.append(f"Problem    {p}")
    return "\n".join(lines)
