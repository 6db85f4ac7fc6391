"""Where a slice goes as things are: its primary tree and, if protected, a backup
disjoint from it in the way the slice asks, both fitting the capacity and tags left,
clear of failed links and sites, of drained links, of drained sites it has no endpoint
at, and (placing a booking) of the maintenance windows overlapping it.

:class:`PairPlacement` is mixed into :class:`slices.engine.SliceEngine`, whose network,
failures, ledger and path caches it reads; it changes nothing but its caches.
"""
from __future__ import annotations

import networkx as nx

from slices.disjoint import disjoint_pair
from slices.errors import Rejected
from slices.ledger import Ledger
from slices.placement import LinkKey, PathCache, Tree, place
from slices.spec import SliceSpec


class PairPlacement:
    graph: nx.Graph
    ledger: Ledger
    down_links: set[LinkKey]
    down_sites: set[str]
    drained: set[str]
    drained_links: set[LinkKey]
    windows: dict                         # id -> slices.windows.Window
    over: tuple[float, float] | None
    paths: PathCache
    backup_paths: PathCache
    _unavoidable: tuple

    def ahead_sites(self) -> set[str]:
        """Sites in a maintenance window overlapping the booking being placed
        (:attr:`over`, :mod:`slices.windows`)."""
        if self.over is None or not self.windows:
            return set()
        return {w.site for w in self.windows.values() if w.site and w.overlaps(*self.over)}

    def avoided_links(self) -> set[LinkKey]:
        """Links no placement may use: down, drained, in a window overlapping :attr:`over`."""
        out = self.down_links | self.drained_links
        if self.over is not None and self.windows:
            out = out | {w.link for w in self.windows.values() if w.link and w.overlaps(*self.over)}
        return out

    def _avoided_sites(self, spec: SliceSpec) -> set[str]:
        """Sites ``spec`` may not cross: lost ones, and drained ones it has no endpoint at."""
        return self.down_sites | ((self.drained | self.ahead_sites()) - set(spec.sites))

    def place_pair(self, spec: SliceSpec, residual: dict[LinkKey, float],
                   no_tags: set[LinkKey] | None = None) -> tuple[Tree, Tree | None]:
        """Primary tree and, if protected, a disjoint backup; both fit ``residual`` together
        and avoid ``no_tags`` (by default the links with every tag in use)."""
        no_tags = self.ledger.tags.full if no_tags is None else no_tags
        down = [s for s in spec.sites if s in self.down_sites]
        if down:
            raise Rejected("site", f"endpoint site {down[0]} is down")
        try:
            tree = place(self.graph, spec, residual, avoid_links=self.avoided_links(),
                         avoid_sites=self._avoided_sites(spec), no_tags=no_tags, cache=self.paths)
        except Rejected as e:
            raise self._naming_down_links(e) from None
        if spec.protection == "none":
            return tree, None
        try:
            return tree, self.backup_for(spec, tree, residual, no_tags=no_tags)
        except Rejected as e:
            why = e
            # cut off by the primary itself, not by full links: a disjoint pair may exist
            if e.constraint in ("topology", "region"):
                try:
                    return self._disjoint_pair(spec, residual, no_tags)
                except Rejected as pair:
                    if pair.constraint == "latency":   # there is one, too slow: say so
                        why = pair
            raise Rejected("protection", f"no {spec.protection}-disjoint backup for {spec.name}: "
                           f"{why.reason}", structural=e.structural) from None

    def _naming_down_links(self, e: Rejected) -> Rejected:
        """``e``, saying which links are down when no path was found: right after a WAN
        comes up, or during an outage, "no path" alone reads as a topology that cannot
        work, when it is links the controller does not use until it sees them up."""
        if e.constraint not in ("topology", "region") or not self.down_links:
            return e
        down = sorted("—".join(sorted(k)) for k in self.down_links)
        more = f" and {len(down) - 3} more" if len(down) > 3 else ""
        return Rejected(e.constraint, f"{e.reason}; {len(down)} link{'s' if len(down) > 1 else ''} down now "
                        f"({', '.join(down[:3])}{more}): a link is used again once the controller sees it up",
                        structural=e.structural)

    def _disjoint_pair(self, spec: SliceSpec, residual: dict[LinkKey, float],
                       no_tags: set[LinkKey]) -> tuple[Tree, Tree]:
        """For a slice between two sites whose least-delay tree left no disjoint backup:
        the disjoint pair of paths of least total delay (:mod:`slices.disjoint`), if one
        exists and fits together; Rejected otherwise (and for more sites, or region
        protection)."""
        if len(spec.sites) != 2 or spec.protection not in ("link", "site"):
            raise Rejected("protection", "a disjoint pair joins two sites, link- or site-disjoint")
        bridges, cut_sites = self.unavoidable()
        tree, backup = disjoint_pair(self.graph, spec, residual, avoid_links=self.avoided_links(),
                                     avoid_sites=self._avoided_sites(spec), no_tags=no_tags,
                                     shared_links=bridges, shared_sites=cut_sites,
                                     sites_too=spec.protection == "site")
        for k in tree.links & backup.links:
            if residual[k] + 1e-9 < 2 * spec.bandwidth_mbps or self.ledger.tags.free(k) < 2:
                raise Rejected("bandwidth", f"{'—'.join(sorted(k))} cannot carry both paths of {spec.name}")
        return tree, backup

    def unavoidable(self) -> tuple[set[LinkKey], set[str]]:
        """Links and sites no backup can avoid: the bridges and cut sites of the working
        network (a data centre with a single uplink, say). Protection is disjoint
        everywhere else."""
        state = (frozenset(self.down_sites), frozenset(self.down_links))
        if self._unavoidable[0] != state:   # computed once per state of the network
            up = self.graph.copy()
            up.remove_nodes_from(self.down_sites)
            up.remove_edges_from(tuple(k) for k in self.down_links)
            self._unavoidable = (state, ({frozenset(e) for e in nx.bridges(up)}, set(nx.articulation_points(up))))
        return self._unavoidable[1]

    def backup_for(self, spec: SliceSpec, tree: Tree, residual: dict[LinkKey, float],
                   tree_tags_held: bool = False, no_tags: set[LinkKey] | None = None) -> Tree:
        """A tree disjoint from ``tree`` in the way ``spec.protection`` asks (sharing only
        what :meth:`unavoidable` names), fitting in ``residual`` once ``tree`` is booked,
        with a tag of its own on every link but ``no_tags`` (``tree_tags_held``: ``tree``
        has its tags)."""
        bridges, cut_sites = self.unavoidable()
        no_tags = self.ledger.tags.full if no_tags is None else no_tags
        if not tree_tags_held:   # a link shared with the primary needs a second tag
            no_tags = no_tags | {k for k in tree.links & bridges if self.ledger.tags.free(k) < 2}
        after = dict(residual)
        for key in tree.links:
            after[key] -= spec.bandwidth_mbps
        transit = [x for x in tree.sites if x not in spec.sites]
        avoid_sites = self._avoided_sites(spec)
        if spec.protection in ("site", "region"):
            avoid_sites |= set(transit) - cut_sites
        regions = set()
        if spec.protection == "region":
            home = {self.graph.nodes[x]["region"] for x in spec.sites}
            regions = {self.graph.nodes[x]["region"] for x in transit} - home
        return place(self.graph, spec, after,
                     avoid_links=self.avoided_links() | (set(tree.links) - bridges),
                     avoid_sites=avoid_sites, avoid_regions=regions, no_tags=no_tags, cache=self.backup_paths)
