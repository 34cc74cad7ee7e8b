"""The per-settore templates: generation (`pegxl templates`, pegxl.flows.make_templates) and
programmatic filling (demo and tests)."""
from ..plan import template_name
from ..values import slugify
from .fill import fill_return
from .generate import DEFAULT_PASSWORD, build_template, generate_templates

__all__ = ["DEFAULT_PASSWORD", "build_template", "fill_return", "generate_templates",
           "slugify", "template_name"]
