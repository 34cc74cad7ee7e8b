"""The per-settore templates: generation (`pegxl templates`) and programmatic filling."""
from .fill import fill_return
from .generate import (DEFAULT_PASSWORD, build_template, generate_templates, make_templates,
                       slugify, template_name)

__all__ = ["DEFAULT_PASSWORD", "build_template", "fill_return", "generate_templates",
           "make_templates", "slugify", "template_name"]
