"""Many synthetic trials: athletes (some recorded in two "years"), tasks, cameras, labs.

Everything about trial i is drawn from ``numpy.random.default_rng([seed, i])`` and
everything about athlete a from ``default_rng([seed, ATHLETE_STREAM, a, year])``, so a
dataset is the same file for file whatever the number of workers or the order in which
trials finish.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_text
from ..errors import KneeViewInputError
from .anthropometrics import Athlete, next_year, sample_athlete
from .cameras import PLACEMENTS, optical_cameras, video_camera
from .motion import Motion, drop_jump, single_leg_squat
from .render import TrialRenderer
from .scene import sample_scene
from .writer import trial_metadata, write_session

TASKS = ("dj", "sls", "walk", "stand", "mix", "all")
#: "all": the share of each task (drop jumps and squats for the clinic, walking and standing for variety)
ALL_TASKS = (("DJ", 0.45), ("SLS", 0.3), ("WALK", 0.15), ("STAND", 0.1))
VALGUS = ("athlete", "strong")  # valgus drawn from each athlete's tendency, or strong and one-sided (a benchmark set)
BODIES = ("primitive", "anny")  # OpenCV-filled primitives (the first datasets), or skinned meshes drawn with OpenGL
BODY_JOINTS = ("rig", "pig")  # --bodies anny's labels: the mesh's bone heads, or its Plug-in Gait centres
BODY_STREAM = 7_000_002
ATHLETE_STREAM = 7_000_001
TRIALS_PER_ATHLETE = 4
MAX_SIZE = 4096
DEFAULT_PLACEMENTS = ("frontal", "oblique")


@dataclass(frozen=True)
class TrialSpec:
    """What one trial is; enough to render it anywhere (picklable, plain data)."""

    seed: int
    index: int
    athlete_index: int
    year: int
    task: str  # "DJ", "SLS", "WALK" or "STAND"
    size: tuple[int, int]
    from_c3d: str | None = None
    placements: tuple[str, ...] = DEFAULT_PLACEMENTS  # the video camera stands at one of these
    bodies: str = "primitive"  # "anny": a skinned human mesh drawn with OpenGL
    backdrop: str | None = None  # a real-lab backdrop folder (kneeview.synth.backdrops) instead of a procedural lab
    valgus: str = "athlete"  # "strong": one knee 40-80 mm, the other -5-15 (squats 35-75): strong_valgus_mm
    body_joints: str = "rig"  # --bodies anny: which of the body's joint centres the labels are (mesh_body.pose_body)

    @property
    def athlete_id(self) -> str:
        return f"S{self.seed}-A{self.athlete_index:03d}"

    @property
    def session(self) -> str:
        return f"{self.athlete_id}_Y{self.year}_{self.index:05d}"

    @property
    def trial(self) -> str:
        return f"{self.task}{self.index:05d}"


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise KneeViewInputError(None, f"--size {text!r} must look like 640x480", "--size") from None
    if not (16 <= w <= MAX_SIZE and 16 <= h <= MAX_SIZE):
        raise KneeViewInputError(None, f"--size {text!r}: width and height must be between 16 and {MAX_SIZE}", "--size")
    if w % 2 or h % 2:  # the MJPG encoder would silently drop the odd row/column
        raise KneeViewInputError(None, f"--size {text!r}: width and height must be even (MJPG video)", "--size")
    return w, h


def parse_placements(text) -> tuple[str, ...]:
    """"frontal,oblique,rear" -> a tuple of camera placements (kneeview.synth.cameras)."""
    names = tuple(dict.fromkeys(p.strip().lower() for p in str(text).split(",") if p.strip()))
    unknown = [p for p in names if p not in PLACEMENTS]
    if not names or unknown:
        raise KneeViewInputError(None, f"--placements {text!r}: choose from {', '.join(PLACEMENTS)}", "--placements")
    return names


def _choice(text, names: tuple[str, ...], option: str) -> str:
    """One of ``names`` (case and surrounding blanks ignored), or a KneeViewInputError naming ``option``."""
    name = str(text).strip().lower()
    if name not in names:
        raise KneeViewInputError(None, f"{option} {text!r}: choose from {', '.join(names)}", option)
    return name


def parse_body_joints(text) -> str:
    return _choice(text, BODY_JOINTS, "--body-joints")


def parse_valgus(text) -> str:
    return _choice(text, VALGUS, "--valgus")


def parse_bodies(text) -> str:
    return _choice(text, BODIES, "--bodies")


#: the strong-valgus draw (--valgus strong): the collapsing knee's and the other knee's peak MKD of a
#: drop jump, and a single-leg squat's, uniform in these ranges (mm)
STRONG_DJ_MM = ((40.0, 80.0), (-5.0, 15.0))
STRONG_SLS_MM = (35.0, 75.0)
VALGUS_STREAM = 7


def strong_valgus_mm(spec: "TrialSpec"):
    """The requested peak MKD of a --valgus strong trial, from its own random stream (every other draw of
    the trial is that of the same trial with --valgus athlete): a drop jump's (right, left), one knee
    (either, at random) collapsing; a squat's stance knee."""
    rng = np.random.default_rng([spec.seed, spec.index, VALGUS_STREAM])
    if spec.task == "DJ":
        strong, other = (rng.uniform(*r) for r in STRONG_DJ_MM)
        return (strong, other) if rng.random() < 0.5 else (other, strong)
    return float(rng.uniform(*STRONG_SLS_MM))


def plan_dataset(n_trials: int, seed: int, task: str = "mix", size=(640, 480), from_c3d=None,
                 placements=DEFAULT_PLACEMENTS, bodies: str = "primitive", valgus: str = "athlete",
                 body_joints: str = "rig") -> list[TrialSpec]:
    """The trials of a dataset: about four per athlete, half the athletes in two years."""
    if not isinstance(n_trials, int) or n_trials < 0:
        raise KneeViewInputError(None, f"--trials must be a non-negative whole number, got {n_trials!r}", "--trials")
    if task not in TASKS:
        raise KneeViewInputError(None, f"--task must be one of {', '.join(TASKS)}, got {task!r}", "--task")
    if not isinstance(seed, int) or seed < 0:
        raise KneeViewInputError(None, f"--seed must be a non-negative whole number, got {seed!r}", "--seed")
    n_athletes = max(1, math.ceil(n_trials / TRIALS_PER_ATHLETE))
    two_years = np.random.default_rng([seed, ATHLETE_STREAM]).random(n_athletes) < 0.5
    specs = []
    for i in range(n_trials):
        a = i % n_athletes
        year = 1 + (i // n_athletes) % 2 if two_years[a] else 1
        rng = np.random.default_rng([seed, i])
        if task == "mix":
            t = "DJ" if rng.random() < 0.6 else "SLS"
        elif task == "all":
            names, shares = zip(*ALL_TASKS)
            t = names[int(np.searchsorted(np.cumsum(shares), rng.random() * sum(shares), side="right"))]
        else:
            t = task.upper()
        specs.append(TrialSpec(seed, i, a, year, t, tuple(size), None if from_c3d is None else str(from_c3d),
                               tuple(placements), bodies=parse_bodies(bodies), valgus=parse_valgus(valgus),
                               body_joints=parse_body_joints(body_joints)))
    return specs


def athlete_for(seed: int, athlete_index: int, year: int, athlete_id: str) -> Athlete:
    athlete = sample_athlete(np.random.default_rng([seed, ATHLETE_STREAM, athlete_index]), athlete_id)
    if year >= 2:
        athlete = next_year(athlete, np.random.default_rng([seed, ATHLETE_STREAM, athlete_index, year]))
    return athlete


def make_motion(spec: TrialSpec, athlete: Athlete, rng: np.random.Generator, fps: float, rate_hz: float,
                valgus_mm=None, duration_s=None, heading_deg=None) -> tuple[Motion, Athlete]:
    landing = np.array([rng.uniform(-800, 800), rng.uniform(-800, 800), 0.0])
    if heading_deg is None:  # labs lay out their axes any way; mostly along one of them
        heading_deg = float(rng.choice([0.0, 90.0, 180.0, 270.0]) + rng.normal(0.0, 3.0))
    if spec.from_c3d:
        from .from_c3d import motion_from_c3d

        return motion_from_c3d(spec.from_c3d, athlete, spec.task)
    if spec.task in ("WALK", "STAND"):
        return generic_motion(spec.task, athlete, rng, fps, rate_hz, landing, heading_deg, duration_s), athlete
    tend = np.asarray(athlete.valgus_tendency_mm, float)
    if spec.task == "DJ":
        v = valgus_mm if valgus_mm is not None else tuple(np.clip(tend + rng.normal(0, 8, 2), -10, 90))
        if valgus_mm is None and spec.valgus == "strong":  # (drawn above all the same: later draws stay put)
            v = strong_valgus_mm(spec)
        return drop_jump(athlete, rng, rate_hz, fps, valgus_mm=v, duration_s=duration_s, landing_lab_mm=landing,
                         heading_deg=heading_deg), athlete
    stance = "right" if rng.random() < 0.5 else "left"
    v = valgus_mm if valgus_mm is not None else float(np.clip(tend[0 if stance == "right" else 1] + rng.normal(0, 8), -10, 80))
    if valgus_mm is None and spec.valgus == "strong":
        v = strong_valgus_mm(spec)
    return single_leg_squat(athlete, rng, rate_hz, fps, stance=stance, valgus_mm=v, duration_s=duration_s,
                            landing_lab_mm=landing, heading_deg=heading_deg), athlete


def generic_motion(task: str, athlete: Athlete, rng: np.random.Generator, fps: float, rate_hz: float, centre_lab_mm,
                   heading_deg: float, duration_s: float | None = None) -> Motion:
    """Walking (straight, or turning half the time) centred on ``centre_lab_mm``, or standing there
    with arm movements and turns (:mod:`.generic_motion`): variety for training, not a clinical task."""
    from .generic_motion import stand, walk

    if task == "STAND":
        return stand(athlete, rng, rate_hz, fps, duration_s=duration_s or float(rng.uniform(3.0, 4.5)),
                     heading_deg=heading_deg, origin_lab_mm=centre_lab_mm)
    duration = duration_s or float(rng.uniform(2.5, 3.5))
    turn = float(rng.uniform(-45.0, 45.0)) if rng.random() < 0.5 else 0.0
    h = np.radians(heading_deg)
    forward = np.array([-np.sin(h), np.cos(h), 0.0])
    start = np.asarray(centre_lab_mm, float) - 0.5 * 1200.0 * duration * forward  # about 1.2 m/s: centred
    return walk(athlete, rng, rate_hz, fps, duration_s=duration, turn_deg_s=turn, heading_deg=heading_deg,
                start_lab_mm=start)


@dataclass
class BuiltTrial:
    """Everything about one trial before it is written: motion, cameras, renderer, metadata."""

    motion: Motion
    athlete: Athlete
    cameras: list  # the video camera first, then the optical ones
    renderer: TrialRenderer  # or a MeshTrialRenderer (--bodies anny)
    fps: float
    metadata: dict
    subject: str
    jpeg_quality: int | None

    def frames(self):
        for j in range(len(self.renderer)):
            frame = self.renderer.frame(j)
            yield frame if self.jpeg_quality is None else _recompress(frame, self.jpeg_quality)


def build_trial(spec: TrialSpec, *, fps: float | None = None, rate_hz: float | None = None,
                valgus_mm=None, duration_s: float | None = None, placement: str | None = None,
                strength: float | None = None, noise_sigma: float | None = None, background=None,
                recompress: bool | None = None, camera_distance_mm: float | None = None,
                camera_height_mm: float | None = None, fill: float | None = None, plain: bool = False,
                heading_deg: float | None = None) -> BuiltTrial:
    """Set up one trial. Keyword options pin what is otherwise drawn at random (the demo and
    the tests use them). ``plain``: no noise, motion blur, shadow or recompression;
    ``background`` a BGR colour for a uniform background instead of the lab."""
    rng = np.random.default_rng([spec.seed, spec.index, 1])
    athlete = athlete_for(spec.seed, spec.athlete_index, spec.year, spec.athlete_id)
    if spec.from_c3d:
        from ..io.c3d import read_points
        from .from_c3d import video_rate_for

        rate_hz = read_points(spec.from_c3d).rate_hz
        fps, _ = video_rate_for(rate_hz)
    else:
        if fps is None:
            fps = float(rng.choice([50.0, 50.0, 60.0, 100.0]))
        if rate_hz is None:
            rate_hz = fps * (2 if fps < 100 else 1)
    motion, athlete = make_motion(spec, athlete, rng, fps, rate_hz, valgus_mm, duration_s, heading_deg)
    k = int(round(motion.rate_hz / fps))
    samples = np.arange(0, motion.n_samples - k + 1, k)
    pts = np.concatenate(list(motion.points.values()))
    if motion.box is not None:
        c = np.asarray(motion.box["top_centre_lab_mm"])
        pts = np.concatenate([pts, [c, c * [1, 1, 0]]])
    backdrop = None
    if spec.backdrop:  # the real camera of a backdrop; the athlete placed on its floor
        from .backdrops import backdrop_camera

        backdrop, cam, on_backdrop = backdrop_camera(spec, pts, motion)
        placement = "backdrop"
    elif placement is None:
        if tuple(spec.placements) == DEFAULT_PLACEMENTS:  # the draw every existing dataset was made with
            placement = "frontal" if rng.random() < 0.5 else "oblique"
        else:
            placement = str(rng.choice(list(spec.placements)))
    if backdrop is None:
        cam = video_camera(rng, spec.size, pts, placement, strength=strength, fill=fill,
                           distance_mm=camera_distance_mm, height_mm=camera_height_mm,
                           facing=motion.facing, right=motion.lateral_axis)
    optical = optical_cameras(rng, motion.landing_lab_mm)
    scene = sample_scene(rng, motion.landing_lab_mm, motion.box, optical, cam.position_mm, facing=motion.facing)
    noise = float(noise_sigma if noise_sigma is not None else rng.uniform(0.5, 4.0))
    exposure = float(rng.uniform(0.2, 0.8))
    extra_body = {}
    if spec.bodies == "anny":
        renderer, extra_body = _mesh_renderer(spec, athlete, motion, samples, cam, scene, rng, fps,
                                              noise_sigma=0.0 if plain else noise, exposure=0.0 if plain else exposure,
                                              background=(0, 0, 0) if backdrop is not None else background,
                                              shadow=not plain)
    else:
        renderer = TrialRenderer(cam, motion.points, athlete, scene, rng, samples, fps,
                                 noise_sigma=0.0 if plain else noise, exposure=0.0 if plain else exposure,
                                 background=(0, 0, 0) if backdrop is not None else background, shadow=not plain)
    if backdrop is not None:
        from .backdrops import backdrop_background

        renderer.background = backdrop_background(backdrop, cam, renderer.canvas, motion.box, motion.facing)
    jpeg = int(rng.integers(35, 90)) if rng.random() < 0.3 else None
    if recompress is False or plain:
        jpeg = None
    subject = f"Athlete{spec.athlete_index:03d}" if rng.random() < 0.5 else ""
    extra = {"trial_index": spec.index, "camera": {"device_id": cam.device_id, "placement": placement},
             "athlete": athlete.to_json(), "bodies": spec.bodies, **extra_body}
    if spec.from_c3d:
        extra["source_c3d"] = motion.params["source_c3d"]
    if backdrop is not None:
        extra["backdrop"] = backdrop.record(on_backdrop)
    meta = trial_metadata(motion, seed=spec.seed, athlete_id=spec.athlete_id, year=spec.year, fps=fps,
                          n_frames=len(renderer), extra=extra)
    return BuiltTrial(motion, athlete, [cam] + optical, renderer, float(fps), meta, subject, jpeg)


def _mesh_renderer(spec: TrialSpec, athlete: Athlete, motion: Motion, samples, cam, scene, rng, fps, **options):
    """The athlete as a posed, dressed human mesh (kneeview.synth.mesh_body, .appearance), drawn with OpenGL.
    Its own draws (body shape, look) come from the athlete's stream, so the trial's own
    draws (camera, lab, noise, compression) are those of the same trial with primitives."""
    from .appearance import hair_pieces, sample_look, vertex_appearance
    from .mesh_body import load_body_asset, pose_body, shape_for
    from .render import MeshTrialRenderer

    body_rng = np.random.default_rng([spec.seed, ATHLETE_STREAM, spec.athlete_index, spec.year, BODY_STREAM])
    sel = {k: np.asarray(v, float)[samples] for k, v in motion.points.items()}
    posed = pose_body(load_body_asset(), shape_for(athlete, body_rng), sel, joints=spec.body_joints)
    look = sample_look(body_rng, athlete)
    regions = np.asarray(posed.region_names)[posed.regions]
    colours, material, edges = vertex_appearance(posed.vertices[0], regions, {k: v[0] for k, v in sel.items()},
                                                 athlete, look, body_rng, edges=True)
    vertices, faces, normals = posed.vertices, posed.faces, posed.normals
    hair = hair_pieces(sel, posed.vertices[0][regions == "head"], athlete, look)
    if hair is not None:  # a ponytail or a bun: more triangles of the same mesh
        from .raster import vertex_normals

        hv, hf, hc, hm = hair
        faces = np.concatenate([faces, hf + vertices.shape[1]])
        vertices = np.concatenate([vertices, hv], axis=1)
        normals = np.concatenate([normals, vertex_normals(hv, hf)], axis=1)
        colours, material = np.concatenate([colours, hc]), np.concatenate([material, hm])
        edges = type(edges)(np.concatenate([edges.colours, hc]), np.concatenate([edges.material, hm]),
                            np.concatenate([edges.field, np.full(len(hc), 25.0, np.float32)]))
    markers = None
    if look.markers and posed.markers:
        markers = np.stack([np.asarray(m, float) for m in posed.markers.values()], 1)
    feet = [sel[k] for k in ("RHEE", "RTOE", "LHEE", "LTOE", "RTIO", "LTIO") if k in sel]
    contact = np.stack([np.concatenate([p, np.full((len(p), 1), 45.0)], 1) for p in feet], 1) if feet else None
    renderer = MeshTrialRenderer(cam, vertices, faces, colours, material, scene, rng, fps,
                                 normals=normals, markers=markers, contact=contact,
                                 box=motion.box, cull=True, edges=edges, **options)
    return renderer, {"look": look.to_json(), "body_joints": spec.body_joints}


def render_trial(spec: TrialSpec, out_dir, *, session_dir=None, trial_name: str | None = None, **options) -> dict:
    """Render and write one trial; returns its index entry (paths relative to ``out_dir``).

    ``options`` go to :func:`build_trial`; ``session_dir``/``trial_name`` override the
    folder and file names.
    """
    built = build_trial(spec, **options)
    session_dir = Path(session_dir) if session_dir is not None else Path(out_dir) / spec.session
    trial_name = trial_name or spec.trial
    paths = write_session(session_dir, trial_name, built.motion, built.cameras, built.frames(), built.fps,
                          built.metadata, built.subject)
    out_dir = Path(out_dir)
    return {
        "session": session_dir.name, "trial": trial_name, "athlete_id": spec.athlete_id, "year": spec.year,
        "task": built.motion.task, "side": built.motion.side, "n_frames": len(built.renderer),
        "video": str(paths["video"].relative_to(out_dir)), "c3d": str(paths["c3d"].relative_to(out_dir)),
        "json": str(paths["json"].relative_to(out_dir)),
        **({"backdrop": built.metadata["backdrop"]} if "backdrop" in built.metadata else {}),
    }


def _recompress(frame: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _render_worker(args) -> dict:
    import cv2

    cv2.setNumThreads(1)
    spec, out_dir = args
    return render_trial(spec, out_dir)


def check_output_dir(out_dir) -> Path:
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".kneeview-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise KneeViewInputError(out, f"cannot write to the output folder ({exc.strerror or exc})") from None
    return out


def write_dataset(out_dir, n_trials: int, seed: int = 0, task: str = "mix", size=(640, 480), from_c3d=None,
                  workers: int = 1, progress: bool = True, placements=DEFAULT_PLACEMENTS, backdrops=None,
                  backdrop_fraction: float = 0.5, bodies: str = "primitive", valgus: str = "athlete",
                  body_joints: str = "rig") -> list[dict]:
    """Render ``n_trials`` trials into ``out_dir`` and write ``synth_index.json`` listing them.

    ``backdrops``: a folder of real-lab backdrops (``tools/make_backdrops.py``); about
    ``backdrop_fraction`` of the trials are filmed on one of them instead of a procedural lab."""
    if not isinstance(workers, int) or workers < 1:
        raise KneeViewInputError(None, f"--workers must be at least 1, got {workers!r}", "--workers")
    specs = plan_dataset(n_trials, seed, task, size, from_c3d, placements, bodies, valgus, body_joints)
    if parse_bodies(bodies) == "anny":
        from .raster import RasterUnavailable, gl_context

        try:
            gl_context()  # fail early, saying what to install
        except RasterUnavailable as exc:
            raise KneeViewInputError(None, str(exc), "--bodies") from None
    if backdrops is not None:
        from .backdrops import assign_backdrops

        specs = assign_backdrops(specs, backdrops, backdrop_fraction)
    if from_c3d is not None:
        from .from_c3d import load_capture

        load_capture(from_c3d)  # fail early, with the file's own message
    out = check_output_dir(out_dir)
    from tqdm import tqdm

    bar = tqdm(total=len(specs), unit="trial", desc="kneeview synth", disable=not progress)
    entries: list[dict] = []
    try:
        if workers == 1:
            for spec in specs:
                entries.append(render_trial(spec, out))
                bar.update()
        else:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(workers) as pool:
                for entry in pool.imap(_render_worker, [(s, out) for s in specs]):
                    entries.append(entry)
                    bar.update()
    finally:
        bar.close()
    run = {"seed": seed, "task": task, "size": list(size), "from_c3d": None if from_c3d is None else str(from_c3d),
           "placements": list(placements), "bodies": parse_bodies(bodies)}
    if valgus != "athlete":  # (the keys are absent from the datasets made before the options)
        run["valgus"] = parse_valgus(valgus)
    if body_joints != "rig":
        run["body_joints"] = parse_body_joints(body_joints)
    if backdrops is not None:
        run.update(backdrops=str(Path(backdrops).resolve()), backdrop_fraction=float(backdrop_fraction))
    index = merge_index(out, {"generator": "kneeview.synth", **run, "runs": [run], "trials": entries,
                              "specs": [asdict(s) for s in specs]})
    atomic_write_text(out / "synth_index.json", json.dumps(index, indent=1) + "\n")
    return entries


def merge_index(out: Path, new: dict) -> dict:
    """``new`` (this run's index) merged with the ``synth_index.json`` already in ``out``.

    Trials listed before whose files are all still there are kept (first), unless this run
    wrote the same session and trial again; the top-level settings are this run's and
    ``runs`` lists every run's settings. An unreadable old index is replaced.
    """
    try:
        old = json.loads((out / "synth_index.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeError, ValueError):
        return new
    if not isinstance(old, dict) or not isinstance(old.get("trials"), list):
        return new
    written = {(e.get("session"), e.get("trial")) for e in new["trials"]}
    old_specs = old.get("specs") if isinstance(old.get("specs"), list) and len(old["specs"]) == len(old["trials"]) else None
    kept, kept_specs = [], []
    for k, entry in enumerate(old["trials"]):
        if not isinstance(entry, dict) or (entry.get("session"), entry.get("trial")) in written:
            continue
        files = [entry.get(key) for key in ("video", "c3d", "json") if entry.get(key)]
        if not files or not all((out / f).is_file() for f in files):
            continue  # its session was deleted or moved
        kept.append(entry)
        kept_specs.append(old_specs[k] if old_specs else None)
    if not kept:
        return new
    old_runs = old.get("runs") if isinstance(old.get("runs"), list) else [
        {key: old.get(key) for key in ("seed", "task", "size", "from_c3d", "placements")}]
    return {**new, "runs": old_runs + new["runs"], "trials": kept + new["trials"], "specs": kept_specs + new["specs"]}
