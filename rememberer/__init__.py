"""rememberer: REMEMBERER / RLEM as a LangGraph agent.

A frozen LLM plus a persistent experience memory whose Q values are learned from rewards.
Subpackages: ``rememberer.graph`` (state machine), ``rememberer.nodes`` (its nodes),
``rememberer.memory`` (Chroma experience store and RLEM math), ``rememberer.tasks``
(environment adapters and task sets).
"""

__version__ = "0.1.0"
