"""The one place that knows topic names (contract §5). All share one configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str = ""

    @property
    def raw(self) -> str:
        return f"{self.prefix}manifests.raw"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}manifests.dlq"

    @property
    def rejected(self) -> str:
        return f"{self.prefix}manifests.rejected"

    @property
    def screened(self) -> str:
        return f"{self.prefix}manifests.screened"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}alerts"

    @property
    def decisions(self) -> str:
        return f"{self.prefix}alerts.decisions"

    @property
    def alerts_dlq(self) -> str:
        """Alerts that could not be delivered to a webhook after every retry."""
        return f"{self.prefix}alerts.dlq"

    @property
    def watchlist(self) -> str:
        return f"{self.prefix}ref.watchlist"

    @property
    def traders(self) -> str:
        return f"{self.prefix}ref.traders"

    @property
    def trader_history(self) -> str:
        """The trader-history table's changelog (compacted; key trader_id, TraderState)."""
        return f"{self.prefix}traders.history"

    @property
    def trader_history_deltas(self) -> str:
        """What workers learn of traders, folded into the table (key trader_id, TraderDelta)."""
        return f"{self.prefix}traders.history.deltas"

    def all(self) -> dict[str, str]:
        """Every topic name, keyed by role."""
        return {
            "raw": self.raw,
            "dlq": self.dlq,
            "rejected": self.rejected,
            "screened": self.screened,
            "alerts": self.alerts,
            "decisions": self.decisions,
            "alerts_dlq": self.alerts_dlq,
            "watchlist": self.watchlist,
            "traders": self.traders,
            "trader_history": self.trader_history,
            "trader_history_deltas": self.trader_history_deltas,
        }

    def compacted(self) -> set[str]:
        return {self.watchlist, self.traders, self.trader_history}
