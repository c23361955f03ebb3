"""Small video facts the OWA stages need besides decoding (which goes through media/video.py)."""

from __future__ import annotations


def stream_start_seconds(path: str) -> float:
    """Start time of the video stream (the pts that ``read_frames_at`` calls time 0)."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        if stream.time_base is None:
            return 0.0
        if stream.start_time is not None:
            return float(stream.start_time * stream.time_base)
        pts = []  # not in the header (e.g. some muxers): the smallest pts of the first packets
        for packet in container.demux(stream):
            if packet.pts is not None:
                pts.append(packet.pts)
            if len(pts) >= 16:
                break
        return float(min(pts) * stream.time_base) if pts else 0.0
