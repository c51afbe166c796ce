"""Graph nodes, one module each: small functions of (state, runtime).

reset → retrieve → advise → call_model → parse → step_env → backup. Pure helpers they use:
``advice`` (encouraged/discouraged), ``prompting`` (templates in ``prompts/``), ``parsing``
(model answers), ``models`` (model specs, token counts, grammars), ``resources`` (context →
live objects).
"""
