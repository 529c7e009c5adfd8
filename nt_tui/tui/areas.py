"""The app's areas: one key each on the home screen, in the command palette and in help.

`screen` is "module:Class" under nt_tui.tui.screens; the class is constructed with the keyword
arguments the caller passes (e.g. `config_path=`, `path=`, `link=`). An area whose module does
not exist yet opens `PlannedScreen`, which says what the area will hold and never pretends to
work.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Area:
    id: str
    key: str
    title: str
    summary: str
    screen: str
    cli: str = ""


AREAS: tuple[Area, ...] = (
    Area("train", "t", "Train", "Review a config, pass pre-flight, start a run.",
         "review:ConfigReviewScreen", "nt-tui train CONFIG"),
    Area("monitor", "m", "Monitor", "Watch any run live, nt-tui's or another tool's.",
         "monitor:MonitorScreen", "nt-tui monitor PATH"),
    Area("diagnose", "d", "Diagnose", "Evidence, ranked causes, a fix, and a check.",
         "diagnose:DiagnosisScreen", "nt-tui diagnose PATH"),
    Area("knowledge", "k", "Knowledge", "Searchable guides to training Transformers.", "knowledge:KnowledgeScreen", "nt-tui knowledge search QUERY"),
    Area("ask", "a", "Ask an advisor", "Four advisors answer with numbers.", "ask:AskScreen", 'nt-tui ask "TEXT"'),
    Area("scaling", "s", "Scaling", "Compute-optimal sizes; fit your own runs.",
         "scaling:ScalingScreen", "nt-tui scale"),
    Area("sweep", "w", "Sweep & LR finder", "LR range test and Optuna sweeps.",
         "sweep:SweepScreen", "nt-tui sweep SWEEP.yaml / nt-tui lr-find CONFIG"),
    Area("interpret", "i", "Interpret curves", "Trends, spikes, plateaus, overfitting onset.", "interpret:InterpretScreen", "nt-tui analyze PATH"),
    Area("validate", "v", "Validate checkpoint", "Loss, perplexity and weight health.", "validate:ValidateScreen", "nt-tui validate RUN_DIR"),
    Area("plan", "p", "Experiment plan", "Question, variables, budget: a runnable plan.",
         "plan:PlanScreen", "nt-tui plan"),
)
AREAS_BY_ID = {area.id: area for area in AREAS}
