"""From the plan and the validated returns to the scoring engine's typed tables."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import pandas as pd

from .plan import Plan
from .scoring import ScoreInput

if TYPE_CHECKING:
    from .validate import Validation


def score_input(plan: Plan, validation: "Validation", *, sectors: Iterable[str] | None = None,
                oiv: pd.DataFrame | None = None) -> ScoreInput:
    """The ScoreInput of `validation`'s rows (limited to `sectors` when given).

    `oiv`, when given, has sector, objective, oiv_grade (NaN where the OIV wrote none)."""
    keep = set(sectors) if sectors is not None else None

    def only(df: pd.DataFrame) -> pd.DataFrame:
        if keep is None or df.empty:
            return df
        return df[df["sector"].isin(keep)]

    obj = only(validation.objectives)
    ph = only(validation.phases)
    ind = only(validation.indicators)
    assignments = plan.assignments if keep is None else plan.assignments[plan.assignments["sector"].isin(keep)]
    sectors_df = plan.sectors if keep is None else plan.sectors[plan.sectors["sector"].isin(keep)]
    objective_inputs = pd.DataFrame({
        "sector": obj["sector"].tolist() if not obj.empty else [],
        "objective": obj["objective"].tolist() if not obj.empty else [],
        "status": obj["status"].tolist() if not obj.empty else [],
        "declared": obj["declared"].astype(float).tolist() if not obj.empty else [],
    })
    if oiv is not None and not oiv.empty and not objective_inputs.empty:
        extra = ["oiv_not_assessable"] if "oiv_not_assessable" in oiv.columns else []
        objective_inputs = objective_inputs.merge(oiv[["sector", "objective", "oiv_grade", *extra]],
                                                  on=["sector", "objective"], how="left")
    else:
        objective_inputs["oiv_grade"] = float("nan")
    return ScoreInput(
        sectors=sectors_df[["sector", "sector_name", "manager", "weight"]].reset_index(drop=True),
        assignments=assignments[["sector", "objective", "title", "weight"]].reset_index(drop=True),
        phases=plan.phases[["objective", "phase", "weight", "neutralised"]].reset_index(drop=True),
        indicators=plan.indicators.rename(columns={"target": "target_raw", "target_value": "target"})[
            ["objective", "indicator", "kind", "value_type", "direction", "target", "weight", "neutralised"]
        ].reset_index(drop=True),
        objective_inputs=objective_inputs,
        phase_inputs=(ph[["sector", "objective", "phase", "progress"]].reset_index(drop=True)
                      if not ph.empty else pd.DataFrame(columns=["sector", "objective", "phase", "progress"])),
        indicator_inputs=(ind[["sector", "objective", "indicator", "achieved"]].reset_index(drop=True)
                          if not ind.empty else pd.DataFrame(columns=["sector", "objective", "indicator", "achieved"])),
    )
