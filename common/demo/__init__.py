"""`tipdata demo`: the product's main job end to end on the embedded default, with no server.

Modules: `synthetic` (two agencies' field work, drawn from the codebook's forms), `form_answers`
(valid, relevant answers to any form), `instance_xml` (the deployed form's submission XML),
`kobo_download` (encrypted download and its sync source), `pipeline` (`run_demo`: generate,
encrypt, decrypt, sync, link, report), `summary` (`demo_summary`: what `--json` prints).
The folder targets it syncs into live in `tipdata.sync.adapters.folder`.
"""

from tipdata.demo.pipeline import DemoOptions, DemoResult, run_demo
from tipdata.demo.summary import demo_summary

__all__ = ["DemoOptions", "DemoResult", "demo_summary", "run_demo"]
