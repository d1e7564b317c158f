"""Which offers a ``model=`` name routes to (pure; no I/O).

- ``glm-4.1v-thinking`` and ``glm-4.1v-9b-thinking`` (any case): every configured offer;
  the router picks.
- A provider's own model id (``glm-4.1v-thinking-flashx``, ``thudm/glm-4.1v-9b-thinking``),
  as the pricing table or the offer's ``model:`` override names it: the offers serving it.
- An offer id (``zhipu-flashx``): that offer.
- ``models={"name": ["offer id or provider", ...]}``: the user's own aliases, which win.

An exact match is tried first, then the same name ignoring case (OpenRouter's
``thudm/glm-4.1v-9b-thinking`` and SiliconFlow's ``THUDM/GLM-4.1V-9B-Thinking`` then route
to both). Pinning is the router's ``providers=`` list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..errors import ConfigurationError

__all__ = ["CANONICAL", "ModelRoutes", "OfferInfo", "Route"]

#: Names of the model itself; they route to every configured offer.
CANONICAL = ("glm-4.1v-thinking", "glm-4.1v-9b-thinking")


@dataclass(frozen=True, slots=True)
class Route:
    """A model name and the offers it pins (None: every configured offer)."""

    name: str
    offers: tuple[str, ...] | None
    owned_by: str


@dataclass(frozen=True, slots=True)
class OfferInfo:
    """What routing by name needs of one configured offer."""

    offer: str
    provider: str
    model_ids: tuple[str, ...]


class ModelRoutes:
    """Model names to routes, built once per client from its router's offers."""

    def __init__(
        self, offers: Sequence[OfferInfo], aliases: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self._providers = {o.offer: o.provider for o in offers}
        routes: dict[str, Route] = {name: Route(name, None, "vlmroute") for name in CANONICAL}
        by_model: dict[str, list[str]] = {}
        for info in offers:
            for model_id in info.model_ids:
                by_model.setdefault(model_id, []).append(info.offer)
        for model_id, served_by in by_model.items():
            routes[model_id] = self._pin(model_id, served_by)
        for info in offers:
            routes[info.offer] = self._pin(info.offer, [info.offer])
        folded = _fold(routes.values())
        for name, targets in (aliases or {}).items():
            routes[name] = self._pin(name, self._alias_offers(name, targets))
            folded[name.lower()] = routes[name]  # the user's alias wins, in any case
        self._exact = routes
        self._folded = folded

    def _pin(self, name: str, offers: Iterable[str]) -> Route:
        pinned = tuple(dict.fromkeys(offers))
        owners = {self._providers[o] for o in pinned}
        return Route(name, pinned, owners.pop() if len(owners) == 1 else "vlmroute")

    def _alias_offers(self, name: str, targets: str | Sequence[str]) -> list[str]:
        targets = [targets] if isinstance(targets, str) else list(targets)
        offers = [o for t in targets for o in self._providers if t in (o, self._providers[o])]
        unknown = [t for t in targets if t not in self._providers.values() and t not in offers]
        if unknown or not targets:
            configured = ", ".join(self._providers)
            raise ConfigurationError(
                f"models[{name!r}] names {', '.join(map(repr, unknown)) or 'no offer'}: "
                f"each alias must list offer ids or providers of this router ({configured})"
            )
        return offers

    def resolve(self, model: str) -> Route | None:
        """The route for ``model``, or None when no name matches."""
        return self._exact.get(model) or self._folded.get(model.lower())

    def offer_ids(self) -> tuple[str, ...]:
        """Every configured offer, in config order."""
        return tuple(self._providers)

    def routes(self) -> list[Route]:
        """Every name, in the order it was added (canonical names first)."""
        return list(self._exact.values())


def _fold(routes: Iterable[Route]) -> dict[str, Route]:
    """Routes by lower-cased name; names equal but for case route to all their offers."""
    folded: dict[str, Route] = {}
    for route in routes:
        key = route.name.lower()
        seen = folded.get(key)
        if seen is None:
            folded[key] = Route(key, route.offers, route.owned_by)
        elif seen.offers is not None and route.offers is not None:
            offers = tuple(dict.fromkeys(seen.offers + route.offers))
            owner = seen.owned_by if seen.owned_by == route.owned_by else "vlmroute"
            folded[key] = Route(key, offers, owner)
        else:
            folded[key] = Route(key, None, "vlmroute")
    return folded
