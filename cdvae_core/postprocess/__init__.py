"""Post-processing: edge-aware upsampling, detail maps, flow drawing, full-resolution rendering, export.

See docs/postprocess.md. Importing this package does not import torch (tested): reading,
upsampling and drawing need none, and export imports the model's side when it runs.
"""

from .errors import ExportError, PostprocessError, UpsampleError
from .export import (
    ExportReport,
    ExportSettings,
    export_folder,
    export_results,
    exported_picture,
    iter_export,
)
from .flowviz import color_scale, draw_arrows, flow_arrows, flow_color, flow_to_pixels, scale_to_pixels
from .imagefiles import read_image, write_image
from .render import MotionView, Renderer, get_renderer, render_results
from .reproduce import reproduce, reproduce_file
from .segments import SegmentSettings
from .upsample import EdgeAwareUpsampler, UpsampleSettings, edge_aware_upsample, get_upsampler

__all__ = [
    "EdgeAwareUpsampler",
    "ExportError",
    "ExportReport",
    "ExportSettings",
    "MotionView",
    "PostprocessError",
    "Renderer",
    "SegmentSettings",
    "UpsampleError",
    "UpsampleSettings",
    "draw_arrows",
    "edge_aware_upsample",
    "export_folder",
    "export_results",
    "exported_picture",
    "flow_arrows",
    "flow_color",
    "color_scale",
    "scale_to_pixels",
    "flow_to_pixels",
    "get_renderer",
    "get_upsampler",
    "iter_export",
    "read_image",
    "render_results",
    "reproduce",
    "reproduce_file",
    "write_image",
]
