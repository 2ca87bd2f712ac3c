"""OpenGL rasterizer for skinned meshes (moderngl, headless EGL; Mesa's llvmpipe on a CPU).

What it draws, per video frame, in the corrected (pinhole) canvas of
:func:`kneeview.synth.render.distortion_maps`:

* the body: a triangle mesh with per-vertex colour and material (specular strength,
  shininess), depth-tested, lit per pixel (a directional light with a shadow map, a
  sky/floor hemisphere ambient term, Blinn-Phong highlights), 4x MSAA;
* reflective marker spheres (instanced icospheres) at given lab points;
* the shadow the body casts on its receivers (the floor Z=0 and the drop-jump box),
  as a darkness mask: the same shadow map sampled with a wide percentage-closer
  filter, plus a contact darkening under the feet.

The projection is the camera's own: canvas pixel ``u = K (R (X - c)) / z - (ox, oy)``,
with OpenCV's pixel-centre convention (integer coordinates are pixel centres), so a lab
point drawn here lands where ``camera.project_corrected`` says, and after the trial's
lens remap where ``camera.project`` says. Each frame is drawn only over a region of
interest (the body's and its shadow's bounding boxes), so the cost follows the body's
size on screen, not the canvas.

Everything is deterministic for the same inputs on the same machine (no random state
here). ``LP_NUM_THREADS`` defaults to 1 (one core per synthesiser worker) unless set.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

NEAR_MM = 50.0
FAR_MM = 60_000.0
SHADOW_MAP = 256
MARKER_RADIUS_MM = 7.0  # 14 mm retro-reflective markers

_CONTEXT = None


class RasterUnavailable(RuntimeError):
    """No OpenGL context can be made here (moderngl or Mesa's EGL/llvmpipe missing)."""


_GL_THREAD = None


def on_gl_thread(fn, *args, **kwargs):
    """Run ``fn`` on the one thread that owns the OpenGL context, and return its result.

    A GL context is current per thread: on a thread of its own, no other context (a Qt GL
    widget's in the app, a GUI test's in the same pytest process) can be current when the
    rasterizer draws, nor the rasterizer's when Qt draws."""
    global _GL_THREAD
    if _GL_THREAD is None:
        from concurrent.futures import ThreadPoolExecutor

        _GL_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kneeview-gl")
    return _GL_THREAD.submit(fn, *args, **kwargs).result()


def gl_context():
    """The process's headless OpenGL 3.3+ context (made once, current on the GL thread only).
    Raises :class:`RasterUnavailable`."""
    if _CONTEXT is not None:
        return _CONTEXT
    return on_gl_thread(_make_context)


def _make_context():
    global _CONTEXT
    if _CONTEXT is not None:
        return _CONTEXT
    os.environ.setdefault("LP_NUM_THREADS", "1")
    try:
        import moderngl
    except ImportError as exc:
        raise RasterUnavailable(f"the mesh renderer needs the Python package moderngl ({exc}); "
                                "pip install moderngl, or use --bodies primitive") from None
    errors = []
    for backend in ("egl", None):
        try:
            ctx = moderngl.create_standalone_context(backend=backend, require=330) if backend else \
                moderngl.create_standalone_context(require=330)
            break
        except Exception as exc:  # noqa: BLE001 - glcontext raises plain Exceptions
            errors.append(f"{backend or 'default'}: {exc}")
    else:
        raise RasterUnavailable("no headless OpenGL 3.3 context could be made (" + "; ".join(errors) + "); install "
                                "Mesa's EGL and llvmpipe (apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri "
                                "libgbm1), or use --bodies primitive")
    # GL objects of finished trials are freed by ctx.gc() on the GL thread (a release from
    # the garbage collector would run on whatever thread it happens on)
    ctx.gc_mode = "context_gc"
    _CONTEXT = ctx
    return ctx


_PROGRAMS: dict = {}


def _programs(ctx) -> dict:
    """The shader programs, compiled once per context; each MeshRaster sets its uniforms per frame."""
    if id(ctx) not in _PROGRAMS:
        _PROGRAMS[id(ctx)] = {
            "body": ctx.program(vertex_shader=_BODY_VS, fragment_shader=_BODY_FS),
            "markers": ctx.program(vertex_shader=_MARKER_VS, fragment_shader=_BODY_FS),
            "depth": ctx.program(vertex_shader=_DEPTH_VS, fragment_shader=_DEPTH_FS),
            "receiver": ctx.program(vertex_shader=_RECEIVER_VS, fragment_shader=_RECEIVER_FS),
        }
    return _PROGRAMS[id(ctx)]


def gl_available() -> bool:
    try:
        gl_context()
    except RasterUnavailable:
        return False
    return True


# ----------------------------------------------------------------------------- shaders
_BODY_VS = """
#version 330
uniform mat4 mvp;
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_colour;
in vec2 in_material;
in vec3 in_colour2;
in vec2 in_material2;
in float in_field;
out vec3 v_pos;
out vec3 v_normal;
out vec3 v_colour;
out vec2 v_material;
out vec3 v_colour2;
out vec2 v_material2;
out float v_field;
void main() {
    gl_Position = mvp * vec4(in_pos, 1.0);
    v_pos = in_pos;
    v_normal = in_normal;
    v_colour = in_colour;
    v_material = in_material;
    v_colour2 = in_colour2;
    v_material2 = in_material2;
    v_field = in_field;
}
"""

_MARKER_VS = """
#version 330
uniform mat4 mvp;
uniform float radius;
in vec3 in_unit;
in vec3 in_centre;
out vec3 v_pos;
out vec3 v_normal;
out vec3 v_colour;
out vec2 v_material;
out vec3 v_colour2;
out vec2 v_material2;
out float v_field;
void main() {
    vec3 p = in_centre + radius * in_unit;
    gl_Position = mvp * vec4(p, 1.0);
    v_pos = p;
    v_normal = in_unit;
    v_colour = vec3(215.0, 220.0, 222.0);
    v_material = vec2(0.9, 40.0);
    v_colour2 = v_colour;
    v_material2 = v_material;
    v_field = 1.0;
}
"""

_SHADOW_SAMPLING = """
uniform sampler2DShadow shadow_map;
uniform mat4 light_mvp;
uniform vec2 texel;
const vec2 POISSON[12] = vec2[](
    vec2(-0.326, -0.406), vec2(-0.840, -0.074), vec2(-0.696, 0.457), vec2(-0.203, 0.621),
    vec2(0.962, -0.195), vec2(0.473, -0.480), vec2(0.519, 0.767), vec2(0.185, -0.893),
    vec2(0.507, 0.064), vec2(0.896, 0.412), vec2(-0.322, -0.933), vec2(-0.792, -0.598));
float lit(vec3 p, float radius_texels, float bias) {
    vec4 q = light_mvp * vec4(p, 1.0);
    vec3 s = q.xyz / q.w * 0.5 + 0.5;
    if (s.x <= 0.0 || s.x >= 1.0 || s.y <= 0.0 || s.y >= 1.0) return 1.0;
    s.z = min(s.z, 0.99999);  // beyond every caster
    float sum = 0.0;
    for (int i = 0; i < 12; i++) {
        sum += texture(shadow_map, vec3(s.xy + POISSON[i] * radius_texels * texel, s.z - bias));
    }
    return sum / 12.0;
}
float lit1(vec3 p, float bias) {  // one bilinear (2x2 percentage-closer) tap
    vec4 q = light_mvp * vec4(p, 1.0);
    vec3 s = q.xyz / q.w * 0.5 + 0.5;
    return texture(shadow_map, vec3(s.xy, min(s.z, 0.99999) - bias));
}
"""

_BODY_FS = """
#version 330
uniform vec3 light_dir;
uniform vec3 eye;
uniform vec3 tint;
uniform float ambient;
uniform vec3 floor_colour;
uniform int self_shadow;
uniform float retro;  // retro-reflection toward the camera (markers)
in vec3 v_pos;
in vec3 v_normal;
in vec3 v_colour;
in vec2 v_material;
in vec3 v_colour2;
in vec2 v_material2;
in float v_field;
out vec4 f_colour;
""" + _SHADOW_SAMPLING + """
void main() {
    // which side of a hem / the hairline: the sign of the interpolated field, antialiased
    float side = clamp(v_field / max(fwidth(v_field), 1e-3) + 0.5, 0.0, 1.0);
    vec3 albedo = mix(v_colour2, v_colour, side);
    vec2 material = mix(v_material2, v_material, side);
    vec3 n = normalize(v_normal);
    vec3 v = normalize(eye - v_pos);
    if (dot(n, v) < 0.0) n = -n;
    float ndl = dot(n, light_dir);
    float direct = clamp((ndl + 0.15) / 1.15, 0.0, 1.0);
    if (self_shadow == 1) direct *= mix(0.35, 1.0, lit1(v_pos + 8.0 * n, 0.003));
    // sky light from above, light bounced off the floor from below
    float up = 0.5 + 0.5 * n.z;
    vec3 amb = mix(0.55 * floor_colour / 255.0 + 0.25, vec3(1.05), up);
    vec3 h = normalize(light_dir + v);
    float spec = material.x * pow(max(dot(n, h), 0.0), material.y) * step(0.0, ndl);
    float rim = pow(1.0 - max(dot(n, v), 0.0), 3.0) * 0.12;
    vec3 c = albedo * (ambient * amb + (1.0 - ambient) * 1.25 * direct + retro * max(dot(n, v), 0.0))
             + 255.0 * (spec * direct + rim * ambient);
    f_colour = vec4(clamp(c * tint, 0.0, 255.0) / 255.0, 1.0);
}
"""

_DEPTH_VS = """
#version 330
uniform mat4 light_mvp;
in vec3 in_pos;
void main() { gl_Position = light_mvp * vec4(in_pos, 1.0); }
"""

_DEPTH_FS = """
#version 330
void main() {}
"""

_RECEIVER_VS = """
#version 330
uniform mat4 mvp;
in vec3 in_pos;
out vec3 v_pos;
void main() { gl_Position = mvp * vec4(in_pos, 1.0); v_pos = in_pos; }
"""

_RECEIVER_FS = """
#version 330
uniform float strength;
uniform float contact;
uniform int n_feet;
uniform vec4 feet[8];  // xyz lab (relative), w radius mm
in vec3 v_pos;
out vec4 f_colour;
""" + _SHADOW_SAMPLING + """
void main() {
    float shade = strength * (1.0 - lit(v_pos + vec3(0.0, 0.0, 2.0), 5.0, 0.004));
    // contact darkening: analytic occlusion of a few spheres (feet, shanks) over the floor
    float occ = 0.0;
    for (int i = 0; i < n_feet; i++) {
        vec3 d = feet[i].xyz - v_pos;
        float dist = max(length(d), feet[i].w);
        occ += feet[i].w * feet[i].w / (dist * dist) * max(d.z / dist, 0.0);
    }
    shade = 1.0 - (1.0 - shade) * (1.0 - contact * clamp(occ, 0.0, 1.0));
    f_colour = vec4(shade, 0.0, 0.0, 1.0);
}
"""


# ----------------------------------------------------------------------------- geometry helpers
def icosphere(subdivisions: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Unit sphere vertices (N, 3) and triangles (M, 3)."""
    t = (1.0 + 5 ** 0.5) / 2.0
    v = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t), (0, 1, -t),
         (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    f = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2), (10, 7, 6),
         (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10),
         (8, 6, 7), (9, 8, 1)]
    verts = [np.array(p, float) / np.linalg.norm(p) for p in v]
    faces = list(f)
    for _ in range(subdivisions):
        cache: dict = {}

        def mid(a, b):
            key = (min(a, b), max(a, b))
            if key not in cache:
                m = verts[a] + verts[b]
                verts.append(m / np.linalg.norm(m))
                cache[key] = len(verts) - 1
            return cache[key]

        new = []
        for a, b, c in faces:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new
    return np.array(verts, np.float32), np.array(faces, np.int32)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals of (..., V, 3) vertices (unit; zero for unused vertices)."""
    v = np.asarray(vertices, np.float32)
    f = np.asarray(faces)
    fn = np.cross(v[..., f[:, 1], :] - v[..., f[:, 0], :], v[..., f[:, 2], :] - v[..., f[:, 0], :])
    n = np.zeros_like(v)
    for k in range(3):
        idx = f[:, k]
        for c in range(3):
            if v.ndim == 2:
                n[:, c] += np.bincount(idx, fn[:, c], minlength=v.shape[0]).astype(np.float32)
            else:
                for t in range(v.shape[0]):
                    n[t, :, c] += np.bincount(idx, fn[t, :, c], minlength=v.shape[1]).astype(np.float32)
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    return np.where(norm > 0, n / np.maximum(norm, 1e-12), 0.0).astype(np.float32)


def canvas_projection(camera, canvas, roi, origin) -> np.ndarray:
    """4x4 matrix: lab mm relative to ``origin`` -> GL clip space of the ROI (x0, y0, w, h) of the canvas.

    Window pixel (i, j) of the ROI is canvas pixel (x0 + i, y0 + j): GL's row 0 is the
    ROI's top row, so a framebuffer read gives image rows in order."""
    x0, y0, w, h = roi
    K = np.asarray(camera.K, float)
    A = np.zeros((4, 4))
    # u_roi = (K x)_0 / z - ox - x0 ; ndc = 2 (u_roi + 0.5) / w - 1
    A[0, :3] = 2.0 / w * K[0] + np.array([0.0, 0.0, 2.0 * (0.5 - canvas.ox - x0) / w - 1.0])
    A[1, :3] = 2.0 / h * K[1] + np.array([0.0, 0.0, 2.0 * (0.5 - canvas.oy - y0) / h - 1.0])
    A[2, 2] = (FAR_MM + NEAR_MM) / (FAR_MM - NEAR_MM)
    A[2, 3] = -2.0 * FAR_MM * NEAR_MM / (FAR_MM - NEAR_MM)
    A[3, 2] = 1.0
    view = np.eye(4)
    view[:3, :3] = camera.R
    view[:3, 3] = camera.R @ (np.asarray(origin, float) - camera.position_mm)
    return A @ view


def light_projection(light_dir, points, pad_mm: float = 150.0) -> np.ndarray:
    """Orthographic 4x4 matrix looking along -``light_dir`` that holds ``points`` (N, 3)."""
    l = np.asarray(light_dir, float) / np.linalg.norm(light_dir)
    helper = np.array([1.0, 0, 0]) if abs(l[0]) < 0.9 else np.array([0, 1.0, 0])
    a = np.cross(l, helper)
    a /= np.linalg.norm(a)
    b = np.cross(l, a)
    basis = np.stack([a, b, l])  # rows
    q = np.asarray(points, float) @ basis.T
    lo, hi = q.min(0) - pad_mm, q.max(0) + pad_mm
    # z_ndc: -1 nearest the light (largest q_z), +1 farthest
    M = np.zeros((4, 4))
    M[0, :3] = 2.0 * a / (hi[0] - lo[0])
    M[0, 3] = -(hi[0] + lo[0]) / (hi[0] - lo[0])
    M[1, :3] = 2.0 * b / (hi[1] - lo[1])
    M[1, 3] = -(hi[1] + lo[1]) / (hi[1] - lo[1])
    M[2, :3] = -2.0 * l / (hi[2] - lo[2])
    M[2, 3] = (hi[2] + lo[2]) / (hi[2] - lo[2])
    M[3, 3] = 1.0
    return M


def _set(prog, name: str, value) -> None:
    if name in prog:  # the GLSL compiler drops uniforms a shader does not use
        prog[name].value = value


def _gl(m: np.ndarray) -> bytes:
    return np.ascontiguousarray(np.asarray(m, np.float32).T).tobytes()  # column-major


@dataclass
class Layer:
    """One frame's drawing over the ROI ``(x0, y0, w, h)`` of the canvas."""

    roi: tuple[int, int, int, int]
    colour: np.ndarray  # (h, w, 3) uint8 BGR, premultiplied by coverage
    alpha: np.ndarray  # (h, w) uint8 coverage
    shadow_roi: tuple[int, int, int, int] | None = None
    shadow: np.ndarray | None = None  # (h, w) float32 darkness 0..1 of the receivers


class MeshRaster:
    """Draws one mesh (fixed topology and colours, moving vertices) for one camera.

    ``colours``: (V, 3) BGR 0..255; ``material``: (V, 2) specular strength, shininess.
    ``lighting``: a :class:`kneeview.synth.scene.Lighting`. ``receivers``: triangles
    (N, 3, 3) lab mm that catch the shadow (floor, box); ``occluders``: triangles that hide
    the body where they stand in front of it (the box, drawn in the background).
    ``samples``: MSAA samples."""

    def __init__(self, camera, canvas, faces, colours, material, lighting, *, origin=(0.0, 0.0, 0.0),
                 floor_colour=(150, 150, 150), receivers=None, samples: int = 4, shadow_strength: float = 0.5,
                 cull: bool = False, occluders=None, edges=None):
        self.ctx = gl_context()
        on_gl_thread(self._setup, camera, canvas, faces, colours, material, lighting, origin, floor_colour, receivers,
                     samples, shadow_strength, cull, occluders, edges)

    def _setup(self, camera, canvas, faces, colours, material, lighting, origin, floor_colour, receivers, samples,
               shadow_strength, cull, occluders, edges) -> None:
        ctx = self.ctx
        self.camera, self.canvas = camera, canvas
        self.origin = np.asarray(origin, float)
        self.lighting = lighting
        self.shadow_strength = float(shadow_strength)
        self.cull = bool(cull)  # back faces of a closed mesh wound counter-clockwise seen from outside
        faces = np.ascontiguousarray(faces, np.int32)
        self._faces_np = faces
        self.n_vertices = int(faces.max()) + 1 if len(faces) else 0
        ctx.gc()  # what earlier trials left
        progs = _programs(ctx)
        self._body, self._markers = progs["body"], progs["markers"]
        self._depth, self._receiver = progs["depth"], progs["receiver"]
        V = len(colours)
        self._pos = ctx.buffer(reserve=V * 12)
        self._nrm = ctx.buffer(reserve=V * 12)
        self._col = ctx.buffer(np.ascontiguousarray(colours, np.float32).tobytes())
        self._mat = ctx.buffer(np.ascontiguousarray(material, np.float32).tobytes())
        self._ibo = ctx.buffer(faces.tobytes())
        if edges is None:  # no hems: the same look on both sides
            col2, mat2, field = colours, material, np.ones(V, np.float32)
        else:
            col2, mat2, field = edges.colours, edges.material, edges.field
        self._col2 = ctx.buffer(np.ascontiguousarray(col2, np.float32).tobytes())
        self._mat2 = ctx.buffer(np.ascontiguousarray(mat2, np.float32).tobytes())
        self._field = ctx.buffer(np.ascontiguousarray(field, np.float32).tobytes())
        self._body_vao = ctx.vertex_array(self._body, [(self._pos, "3f", "in_pos"), (self._nrm, "3f", "in_normal"),
                                                       (self._col, "3f", "in_colour"), (self._mat, "2f", "in_material"),
                                                       (self._col2, "3f", "in_colour2"), (self._mat2, "2f", "in_material2"),
                                                       (self._field, "1f", "in_field")],
                                          index_buffer=self._ibo)
        self._depth_vao = ctx.vertex_array(self._depth, [(self._pos, "3f", "in_pos")], index_buffer=self._ibo)
        sv, sf = icosphere(1)
        self._sphere = ctx.buffer(sv.tobytes())
        self._sphere_ibo = ctx.buffer(sf.tobytes())
        self._centres = ctx.buffer(reserve=64 * 12)
        self._marker_vao = ctx.vertex_array(self._markers, [(self._sphere, "3f", "in_unit"),
                                                            (self._centres, "3f/i", "in_centre")],
                                            index_buffer=self._sphere_ibo)
        self._marker_depth_vao = None
        if receivers is not None and len(receivers):
            rec = (np.asarray(receivers, float).reshape(-1, 3) - self.origin).astype(np.float32)
            self._rec = ctx.buffer(rec.tobytes())
            self._receiver_vao = ctx.vertex_array(self._receiver, [(self._rec, "3f", "in_pos")])
        else:
            self._receiver_vao = None
        self._occluder_vao = None
        if occluders is not None and len(occluders):
            occ = (np.asarray(occluders, float).reshape(-1, 3) - self.origin).astype(np.float32)
            self._occ = ctx.buffer(occ.tobytes())
            self._occluder_vao = ctx.vertex_array(self._receiver, [(self._occ, "3f", "in_pos")])
        self.samples = min(int(samples), int(ctx.max_samples)) if samples > 1 else 0
        self._fb_size = (0, 0)
        self._shadow_tex = ctx.depth_texture((SHADOW_MAP, SHADOW_MAP))
        self._shadow_tex.compare_func = "<="
        import moderngl

        self._shadow_tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self._shadow_tex.repeat_x = self._shadow_tex.repeat_y = False
        self._shadow_fbo = ctx.framebuffer(depth_attachment=self._shadow_tex)
        L = lighting
        light = np.asarray(L.light_dir_lab, float)
        self.light_dir = light / np.linalg.norm(light)
        self._eye = np.asarray(camera.position_mm, float) - self.origin
        self._tint = np.asarray(L.tint, float) * L.gain
        self._floor_colour = tuple(float(c) for c in floor_colour)

    def _uniforms(self) -> None:
        """This raster's light, eye and tint into the shared programs."""
        for prog in (self._body, self._markers):
            prog["light_dir"].value = tuple(self.light_dir)
            prog["eye"].value = tuple(self._eye)
            prog["tint"].value = tuple(self._tint)
            prog["ambient"].value = float(self.lighting.ambient)
            prog["floor_colour"].value = self._floor_colour
            _set(prog, "texel", (1.0 / SHADOW_MAP, 1.0 / SHADOW_MAP))
            _set(prog, "shadow_map", 0)
        self._markers["radius"].value = MARKER_RADIUS_MM
        self._markers["retro"].value = 0.6
        self._body["retro"].value = 0.0
        self._receiver["texel"].value = (1.0 / SHADOW_MAP, 1.0 / SHADOW_MAP)
        self._receiver["shadow_map"].value = 0

    # ------------------------------------------------------------------ framebuffers
    def _framebuffers(self, w: int, h: int) -> None:
        if w <= self._fb_size[0] and h <= self._fb_size[1]:
            return
        w, h = max(w, self._fb_size[0]), max(h, self._fb_size[1])
        ctx = self.ctx
        # the smaller ones go with their references (released by ctx.gc(), see gl_context)
        self._msaa = ctx.framebuffer(color_attachments=[ctx.renderbuffer((w, h), 4, samples=self.samples)],
                                     depth_attachment=ctx.depth_renderbuffer((w, h), samples=self.samples))
        self._resolve = ctx.framebuffer(color_attachments=[ctx.renderbuffer((w, h), 4)])
        self._shadow_out = ctx.framebuffer(color_attachments=[ctx.renderbuffer((w, h), 4)],
                                           depth_attachment=ctx.depth_renderbuffer((w, h)))
        self._fb_size = (w, h)

    # ------------------------------------------------------------------ drawing
    def roi_of(self, points_lab_mm, pad: int = 3) -> tuple[int, int, int, int] | None:
        """Canvas bounding box (x0, y0, w, h) of lab points, clipped to the canvas; None if empty."""
        if not hasattr(self, "_P32"):  # lab (relative to origin) -> K * camera frame, float32 for speed
            R = np.asarray(self.camera.R, float)
            M = np.asarray(self.camera.K, float) @ R
            self._P32 = (M.T.astype(np.float32), (M @ (self.origin - self.camera.position_mm)).astype(np.float32))
        MT, b = self._P32
        rel = (np.asarray(points_lab_mm, float).reshape(-1, 3) - self.origin).astype(np.float32)
        uvw = rel @ MT + b
        uvw = uvw[uvw[:, 2] > NEAR_MM]  # K's last row is (0, 0, 1): the third value is the depth
        if not len(uvw):
            return None
        uv = uvw[:, :2] / uvw[:, 2:3] - np.array([self.canvas.ox, self.canvas.oy], np.float32)
        x0, y0 = np.floor(uv.min(0)).astype(int) - pad
        x1, y1 = np.ceil(uv.max(0)).astype(int) + pad + 1
        x0, y0 = max(int(x0), 0), max(int(y0), 0)
        x1, y1 = min(int(x1), self.canvas.width), min(int(y1), self.canvas.height)
        if x1 - x0 < 1 or y1 - y0 < 1:
            return None
        return x0, y0, x1 - x0, y1 - y0

    def render(self, vertices_lab_mm, normals=None, markers_lab_mm=None, contact_spheres=None,
               shadow_points_lab_mm=None) -> Layer | None:
        """One frame (see :meth:`_render`), drawn on the GL thread (:func:`on_gl_thread`)."""
        return on_gl_thread(self._render, vertices_lab_mm, normals, markers_lab_mm, contact_spheres,
                            shadow_points_lab_mm)

    def _render(self, vertices_lab_mm, normals=None, markers_lab_mm=None, contact_spheres=None,
                shadow_points_lab_mm=None) -> Layer | None:
        """One frame. ``vertices_lab_mm`` (V, 3); ``normals`` (V, 3) or None (computed);
        ``markers_lab_mm`` (M, 3) sphere centres or None; ``contact_spheres`` (K, 4) xyz mm,
        radius mm, for the contact darkening; ``shadow_points_lab_mm`` where the shadow may
        fall (its ROI), default the body's projection on the floor along the light."""
        ctx = self.ctx
        self._uniforms()
        verts = np.asarray(vertices_lab_mm, float)
        rel = (verts - self.origin).astype(np.float32)
        if normals is None:
            normals = vertex_normals(rel, self._faces_cache())
        self._pos.write(np.ascontiguousarray(rel).tobytes())
        self._nrm.write(np.ascontiguousarray(normals, np.float32).tobytes())
        n_markers = 0
        if markers_lab_mm is not None and len(markers_lab_mm):
            m = (np.asarray(markers_lab_mm, float) - self.origin).astype(np.float32)
            m = m[np.all(np.isfinite(m), axis=1)]
            n_markers = len(m)
            if n_markers * 12 > self._centres.size:
                self._centres.orphan(n_markers * 12)
            if n_markers:
                self._centres.write(m.tobytes())
        body_roi = self.roi_of(verts)
        # shadow map from the light, around the body
        light_mvp = light_projection(self.light_dir, rel[::3])  # its 150 mm padding holds the markers and the rest
        self._shadow_fbo.use()
        self._shadow_fbo.clear(depth=1.0)
        ctx.enable(ctx.DEPTH_TEST)
        ctx.disable(ctx.CULL_FACE)
        self._depth["light_mvp"].write(_gl(light_mvp))
        if self.cull:  # the light's view is not mirrored: front faces are counter-clockwise
            ctx.front_face = "ccw"
            ctx.enable(ctx.CULL_FACE)
        self._depth_vao.render()
        ctx.disable(ctx.CULL_FACE)
        self._shadow_tex.use(0)
        # the shadow on the receivers
        shadow_layer = None
        if self._receiver_vao is not None and self.shadow_strength > 0:
            if shadow_points_lab_mm is None:
                sub = verts[::4]  # the ROI is padded by 12 px: a quarter of the vertices bound it
                z = np.maximum(sub[:, 2], 0.0)[:, None]
                shadow_points_lab_mm = np.concatenate([sub * [1, 1, 0], sub - z / self.light_dir[2] * self.light_dir])
            sroi = self.roi_of(shadow_points_lab_mm, pad=12)
            if sroi is not None:
                self._framebuffers(sroi[2], sroi[3])
                self._shadow_out.use()
                ctx.viewport = (0, 0, sroi[2], sroi[3])
                self._shadow_out.clear(0.0, 0.0, 0.0, 0.0, depth=1.0, viewport=(0, 0, sroi[2], sroi[3]))
                r = self._receiver
                r["mvp"].write(_gl(canvas_projection(self.camera, self.canvas, sroi, self.origin)))
                r["light_mvp"].write(_gl(light_mvp))
                r["strength"].value = self.shadow_strength
                spheres = np.zeros((8, 4), np.float32)
                k = 0
                if contact_spheres is not None:
                    cs = np.asarray(contact_spheres, float)[:8]
                    k = len(cs)
                    spheres[:k, :3] = cs[:, :3] - self.origin
                    spheres[:k, 3] = cs[:, 3]
                r["n_feet"].value = k
                r["feet"].write(spheres.tobytes())
                r["contact"].value = 0.8 * self.shadow_strength
                self._receiver_vao.render()
                raw = self._shadow_out.read(viewport=(0, 0, sroi[2], sroi[3]), components=4, dtype="f1")
                dark = np.frombuffer(raw, np.uint8).reshape(sroi[3], sroi[2], 4)[..., 0]
                shadow_layer = (sroi, dark.astype(np.float32) / 255.0)
        if body_roi is None:
            return None if shadow_layer is None else Layer((0, 0, 0, 0), np.zeros((0, 0, 3), np.uint8),
                                                           np.zeros((0, 0), np.uint8), *shadow_layer)
        if n_markers:
            body_roi = self._union(body_roi, self.roi_of(np.asarray(markers_lab_mm, float)[np.all(np.isfinite(markers_lab_mm), 1)], pad=int(4 + 2 * MARKER_RADIUS_MM)))
        x0, y0, w, h = body_roi
        self._framebuffers(w, h)
        self._msaa.use()
        ctx.viewport = (0, 0, w, h)
        self._msaa.clear(0.0, 0.0, 0.0, 0.0, depth=1.0, viewport=(0, 0, w, h))
        mvp = _gl(canvas_projection(self.camera, self.canvas, body_roi, self.origin))
        for prog in (self._body, self._markers):
            prog["mvp"].write(mvp)
            prog["light_mvp"].write(_gl(light_mvp))
        self._body["self_shadow"].value = 1
        self._markers["self_shadow"].value = 1
        if self._occluder_vao is not None:  # depth only: what stands in front of the body hides it
            self._receiver["mvp"].write(mvp)
            self._msaa.color_mask = (False, False, False, False)
            self._msaa.use()
            self._occluder_vao.render()
            self._msaa.color_mask = (True, True, True, True)
            self._msaa.use()
            ctx.viewport = (0, 0, w, h)
        if self.cull:  # the ROI's rows run top to bottom, which mirrors the winding: front faces are clockwise
            ctx.front_face = "cw"
            ctx.enable(ctx.CULL_FACE)
        self._body_vao.render()
        ctx.disable(ctx.CULL_FACE)
        if n_markers:
            self._marker_vao.render(instances=n_markers)
        ctx.finish()
        ctx.copy_framebuffer(self._resolve, self._msaa)
        raw = self._resolve.read(viewport=(0, 0, w, h), components=4, dtype="f1")
        rgba = np.frombuffer(raw, np.uint8).reshape(h, w, 4)
        layer = Layer(body_roi, rgba[..., :3], rgba[..., 3])
        if shadow_layer is not None:
            layer.shadow_roi, layer.shadow = shadow_layer
        return layer

    def _union(self, a, b):
        if b is None:
            return a
        x0, y0 = min(a[0], b[0]), min(a[1], b[1])
        x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
        return x0, y0, x1 - x0, y1 - y0

    def _faces_cache(self):
        return self._faces_np


def composite(img: np.ndarray, layer: Layer | None) -> None:
    """Darken ``img`` (canvas, BGR uint8) by the layer's shadow, then draw its colour over it (in place)."""
    if layer is None:
        return
    if layer.shadow is not None:
        x0, y0, w, h = layer.shadow_roi
        roi = img[y0:y0 + h, x0:x0 + w]
        roi[:] = (roi * (1.0 - layer.shadow[..., None]) + 0.5).astype(np.uint8)
    x0, y0, w, h = layer.roi
    if w and h:
        roi = img[y0:y0 + h, x0:x0 + w]
        a = layer.alpha[..., None].astype(np.uint16)
        out = (roi.astype(np.uint16) * (255 - a) + 127) // 255 + layer.colour
        roi[:] = np.minimum(out, 255).astype(np.uint8)
