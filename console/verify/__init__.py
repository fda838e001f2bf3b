"""Verification: ``model`` (outcomes, reports, the context checks see) at the bottom, ``checks``
(what every kind shares), ``run`` (select, check, record), ``reports`` (the report files)."""
