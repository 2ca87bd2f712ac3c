"""Recordings: video access, C3D ground truth, session discovery, export."""
from .c3d import GroundTruth, read_ground_truth, read_points, write_ground_truth
from .recording import Recording, View, describe_recording, find_recordings, open_recording
from .video import VideoInfo, VideoReader, probe_video

__all__ = [
    "GroundTruth",
    "Recording",
    "VideoInfo",
    "VideoReader",
    "View",
    "describe_recording",
    "find_recordings",
    "open_recording",
    "probe_video",
    "read_ground_truth",
    "read_points",
    "write_ground_truth",
]
