"""Step 5: the VIP, held by one proxy host at a time (keepalived, VRRP).

Both nodes run keepalived with one `vrrp_instance` in state BACKUP (the election decides who
holds the VIP; nopreempt keeps it where it is after a failover), different priorities, unicast
peers (networks often filter VRRP multicast), a `virtual_router_id` no other VRRP group on the
segment uses, a shared auth_pass, and a `track_script` that fails while ProxySQL does not listen
on its client port: the instance then goes to FAULT and releases the VIP to the peer.

Rollback stops keepalived, makes sure the VIP is on neither node (after a SIGKILL keepalived
leaves it behind), and puts back whatever keepalived.conf was there.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from moodle_wizard.core.command import Command, placeholder, render_all, run_all
from moodle_wizard.core.facts import KeepalivedNode, VipFacts
from moodle_wizard.core.poll import poll_until
from moodle_wizard.core.remote.netcheck import (
    Interfaces,
    arp_probe,
    choose_vrid,
    interfaces,
    vrrp_groups,
)
from moodle_wizard.core.remote.packages import install_packages, install_shell
from moodle_wizard.core.remote.ssh import Result
from moodle_wizard.core.render.keepalived import (
    HealthCheck,
    VirtualIP,
    VrrpInstance,
    render_keepalived_conf,
)
from moodle_wizard.core.state import StepName
from moodle_wizard.core.steps import vip_commands as vipcmd
from moodle_wizard.core.steps import vip_node
from moodle_wizard.core.steps.base import Action, Problem, Step, StepError, error, warning
from moodle_wizard.core.steps.vip_login import vip_login
from moodle_wizard.core.steps.vip_node import (
    CHECK_SCRIPT,
    CONF,
    drop_address,
    holds_vip,
    keepalived_state,
    start_keepalived,
    stop_keepalived,
    uninstall_keepalived,
)

VRRP_LISTEN_S = 3.0
ELECTION_TIMEOUT_S = 30.0


class Vip(Step):
    name = StepName.VIP
    title = "The virtual IP (keepalived)"
    summary = ("Runs keepalived on the proxy hosts: one VRRP instance, state BACKUP on both "
               "with different priorities, unicast peers, a virtual_router_id unused on the "
               "segment, a shared password, and a track script that releases the VIP while "
               "ProxySQL is down. Verified: exactly one node holds the VIP and Moodle's user "
               "logs in through it.")
    generated_secrets = ("keepalived_auth_pass",)

    # -- shared ---------------------------------------------------------------------------

    @property
    def vip(self) -> Any:
        if self.ctx.inventory.vip is None:
            raise StepError("the inventory has no [vip] section")
        return self.ctx.inventory.vip

    @property
    def facts(self) -> VipFacts:
        return self.ctx.state.steps.vip.facts

    def nodes(self) -> dict[str, KeepalivedNode]:
        return self.facts.nodes

    def vrid(self) -> int:
        chosen = self.facts.virtual_router_id
        return chosen if chosen else choose_vrid(self.vip.address, (),
                                                      self.vip.virtual_router_id)

    def priority(self, px: str) -> int:
        return max(1, 150 - 50 * self.ctx.inventory.proxies.index(px))

    # -- preflight ------------------------------------------------------------------------

    async def preflight(self) -> list[Problem]:
        inv = self.ctx.inventory
        if inv.vip is None:
            return [error("the inventory has no [vip] section; add one with address = a free "
                          "IPv4 address in the proxy hosts' subnet (and interface, default "
                          "eth0)")]
        if len(inv.proxies) < 2:
            return [error('a VIP needs two hosts with role = "proxy"')]
        vip, dev = inv.vip.address, inv.vip.interface
        checked = await asyncio.gather(*(self._node_preflight(px) for px in inv.proxies))
        problems = [p for found, _ in checked for p in found]
        sources = {px: src for px, (_, src) in zip(inv.proxies, checked, strict=True) if src}
        if len(sources) < len(inv.proxies):
            return problems  # the interface is wrong somewhere: the rest would only repeat it
        first = inv.proxies[0]
        hosts = {px: await self.ctx.host(px) for px in inv.proxies}
        # At once: the ARP probe takes up to ~4 s when nobody answers, the listen 3 s.
        answer, heard = await asyncio.gather(
            arp_probe(hosts[first], vip, dev),
            asyncio.gather(*(vrrp_groups(hosts[px], sources[px], VRRP_LISTEN_S)
                             for px in inv.proxies)))
        if answer.in_use:
            who = f"{answer.mac} answered ARP for it" if answer.mac else answer.detail
            problems.append(error(f"the VIP {vip} is already in use on the network ({who}, "
                                  f"seen from {first}); choose a free address for vip.address"))
        if any(h is None for h in heard):
            problems.append(warning("a proxy host has no python3 to listen for other VRRP "
                                    "groups on the segment; if one uses virtual_router_id "
                                    f"{self.vrid()}, set vip.virtual_router_id to a free one"))
        taken = {vrid for h in heard if h for vrid, src in h if src not in sources.values()}
        chosen = choose_vrid(vip, taken, inv.vip.virtual_router_id)
        if chosen in taken:
            problems.append(error(f"virtual_router_id {chosen} (vip.virtual_router_id) is "
                                  "already used by another VRRP group on the segment; choose "
                                  f"another (in use: {', '.join(map(str, sorted(taken)))})"))
        self.facts.virtual_router_id = chosen
        return problems

    async def _node_preflight(self, px: str) -> tuple[list[Problem], str | None]:
        """Problems, and this node's address on the VIP's subnet (None if unusable)."""
        vip, dev = self.vip.address, self.vip.interface
        host = await self.ctx.host(px)
        found = await interfaces(host)
        problems: list[Problem] = []
        if dev not in found.names:
            others = ", ".join(n for n in found.names if n != "lo") or "none"
            return [error(f"{px}: network interface {dev} does not exist (it has: {others}); "
                          "set vip.interface to the interface that carries the VIP's "
                          "subnet")], None
        src = found.address_for(dev, vip)
        if any(a.ip.compressed == vip for a in found.on(dev)):
            problems.append(error(f"{px}: the VIP {vip} is already configured on {dev}; "
                                  "remove it (ip addr del) or choose another vip.address"))
        elif src is None:
            have = ", ".join(str(a) for a in found.on(dev)) or "no IPv4 address"
            problems.append(error(f"{px}: the VIP {vip} is not in the subnet of {dev} ({have}); "
                                  "choose a VIP in that subnet, or the interface that has it"))
        state = await keepalived_state(host)
        if not state.installed:
            problems.append(warning(f"{px}: keepalived is not installed; the wizard will "
                                    "install Debian's keepalived package"))
        if state.pids:
            problems.append(error(f"{px}: keepalived already runs there (pid "
                                  f"{', '.join(state.pids)}); the wizard runs keepalived "
                                  "with its own config: stop it (keep its config, the wizard "
                                  "puts it back on rollback) or use other proxy hosts"))
        elif state.conf:
            problems.append(warning(f"{px}: {CONF} exists; the wizard replaces it and puts "
                                    "it back on rollback"))
        return problems, (str(src.ip) if src is not None else None)

    # -- plan -----------------------------------------------------------------------------

    def plan(self) -> list[Action]:
        actions: list[Action] = []
        if self.ctx.inventory.vip is None:
            return actions  # preflight says what is missing
        for px in self.ctx.inventory.proxies:
            actions += [
                Action(f"install:{px}", f"Install keepalived on {px} if it is missing",
                       partial(self.install, px),
                       render_all([install_shell(px, ["keepalived"]),
                                   *vip_node.stop_commands(px, None)]),
                       done=partial(self.installed, px), host=px),
                Action(f"record:{px}", f"Copy {px}'s keepalived config aside",
                       partial(self.record, px),
                       [vipcmd.record(px, placeholder("time")).render()], host=px),
                Action(f"config:{px}", f"Write keepalived's config on {px}",
                       partial(self.configure, px),
                       render_all(self._config_commands(px, partial(self._runbook_conf, px))),
                       host=px),
            ]
        for px in self.ctx.inventory.proxies:
            actions.append(Action(f"start:{px}", f"Start keepalived on {px}",
                                  partial(self.start, px),
                                  [vip_node.start_command(px).render()], host=px))
        return actions

    def _runbook_conf(self, px: str, auth_pass: str) -> str:
        inv = self.ctx.inventory
        # The real addresses come from the interfaces at apply time; the inventory's are
        # the best guess for a runbook.
        prefix = 24
        own = f"{inv.hosts[px].address}/{prefix}"
        peers = tuple(inv.hosts[p].address for p in inv.proxies if p != px)
        try:
            conf = self._render(px, own, peers, auth_pass)
        except ValueError as exc:
            return f"(cannot be shown before the interfaces are read: {exc})"
        if self.facts.virtual_router_id is None and self.vip.virtual_router_id is None:
            # Not decided until the preflight has listened for other VRRP groups: the id
            # shown would be a guess that the applied config may not have.
            conf = conf.replace(f"virtual_router_id {self.vrid()}\n",
                                f"virtual_router_id {vipcmd.VRID_UNDECIDED}\n")
        return conf

    def _config_commands(self, px: str, conf: Callable[[str], str]) -> list[Command]:
        return vipcmd.config(px, self.ctx.inventory.proxysql.client_port, conf)

    def _render(self, px: str, own_cidr: str, peers: tuple[str, ...], auth_pass: str) -> str:
        vip = self.vip
        prefix = int(own_cidr.split("/")[1])
        instance = VrrpInstance(
            virtual_router_id=self.vrid(), priority=self.priority(px), interface_cidr=own_cidr,
            unicast_src_ip=own_cidr.split("/")[0], unicast_peers=peers, auth_pass=auth_pass,
            vip=VirtualIP(vip.address, prefix, vip.interface), nopreempt=True)
        check = HealthCheck(command=(CHECK_SCRIPT,), interval=1, timeout=1, fall=2, rise=2)
        return render_keepalived_conf(instance, check, router_id=px)

    # -- apply ----------------------------------------------------------------------------

    async def installed(self, px: str) -> bool:
        return (await keepalived_state(await self.ctx.host(px))).installed

    async def install(self, px: str) -> None:
        if await self.installed(px):
            return

        def record(missing: list[str]) -> None:
            installed = self.facts.installed
            if px not in installed:
                installed.append(px)
                self.ctx.save()

        await install_packages(await self.ctx.host(px), ["keepalived"], record=record)
        # The package may start it with its sample config: the wizard starts it itself.
        await self._stop(px)

    async def record(self, px: str) -> None:
        if px in self.nodes():
            return
        host = await self.ctx.host(px)
        state = await keepalived_state(host)
        backup = None
        if state.conf:
            stamp = time.strftime('%Y%m%d%H%M%S')
            backup = vipcmd.backup_path(px, stamp)
            await vipcmd.record(px, stamp).run(self.ctx)
        self.nodes()[px] = KeepalivedNode(conf_backup=backup, script_existed=state.script)
        self.ctx.save()

    async def _interfaces(self) -> dict[str, Interfaces]:
        out = {}
        for px in self.ctx.inventory.proxies:
            out[px] = await interfaces(await self.ctx.host(px))
        return out

    async def configure(self, px: str) -> None:
        vip = self.vip
        found = await self._interfaces()
        addrs = {}
        for node, ifaces in found.items():
            own = ifaces.address_for(vip.interface, vip.address)
            if own is None:
                raise StepError(f"{node}: no address on {vip.interface} in the VIP's subnet")
            addrs[node] = own
        peers = tuple(str(addrs[p].ip) for p in self.ctx.inventory.proxies if p != px)
        render = partial(self._render, px, addrs[px].with_prefixlen, peers)
        *write, check = self._config_commands(px, render)
        await run_all(self.ctx, write)
        test = await check.run(self.ctx)
        assert isinstance(test, Result)
        conf = render(await vipcmd.AUTH_PASS.value(self.ctx))
        if test.exit_status != 0:
            raise StepError(f"{px}: keepalived refuses the config it was given: "
                            f"{(test.stderr or test.stdout).strip()[-400:]}")
        self.facts.conf_sha256[px] = hashlib.sha256(conf.encode()).hexdigest()
        self.ctx.save()

    async def start(self, px: str) -> None:
        await start_keepalived(await self.ctx.host(px), px)

    # -- verify ---------------------------------------------------------------------------

    async def holders(self) -> list[str]:
        vip = self.vip
        out = []
        for px in self.ctx.inventory.proxies:
            if await holds_vip(await self.ctx.host(px), vip.interface, vip.address):
                out.append(px)
        return out

    async def verify(self) -> None:
        seen: list[list[str]] = []

        async def one_holder() -> list[str] | None:
            seen.append(await self.holders())
            return seen[-1] if len(seen[-1]) == 1 else None

        def late() -> str:
            return (f"after {ELECTION_TIMEOUT_S:.0f} s "
                    f"{'no node' if not seen[-1] else ' and '.join(seen[-1])} "
                    f"holds the VIP {self.vip.address}; exactly one should: check "
                    "that ProxySQL runs on the proxy hosts and that they reach "
                    "each other (VRRP, IP protocol 112)")

        holders = await poll_until(one_holder, timeout_s=ELECTION_TIMEOUT_S, interval_s=0.3,
                                   what=late)
        who = await vip_login(self.ctx, deadline=time.monotonic() + ELECTION_TIMEOUT_S)
        self.facts.holder = holders[0]
        self.facts.reached = who.hostname
        self.ctx.save()

    # -- rollback -------------------------------------------------------------------------

    def rollback_plan(self) -> list[Action]:
        inv = self.ctx.inventory
        nodes = self.facts.nodes
        vip = inv.vip
        actions = []
        # Only where the wizard started keepalived (or installed it, which may start it): one
        # that someone runs on a host the step never reached is left running.
        for px in (p for p in inv.proxies if self.journaled(f"install:{p}", f"start:{p}")):
            actions.append(Action(f"stop:{px}", f"Stop keepalived on {px}",
                                  partial(self._stop, px),
                                  render_all(vip_node.stop_commands(px, None)), host=px))
        if vip is not None:
            for px in inv.proxies:
                actions.append(Action(
                    f"vip-gone:{px}", f"Make sure {vip.address} is not on {px}",
                    partial(self.drop_vip, px),
                    [vip_node.drop_command(px, vip.interface, vip.address + "/"
                                           + placeholder("prefix")).render()], host=px))
        for px in inv.proxies:
            if px not in nodes:
                continue
            actions.append(self.command_action(
                f"restore:{px}", f"Put {px}'s keepalived config back",
                vipcmd.restore(px, nodes[px].conf_backup, nodes[px].script_existed), host=px))
        for px in self.facts.installed:
            actions.append(Action(f"uninstall:{px}", f"Remove keepalived from {px}",
                                  partial(self.uninstall, px),
                                  [vip_node.uninstall_command(px).render()], host=px))
        return actions

    async def _stop(self, px: str) -> None:
        await stop_keepalived(await self.ctx.host(px), px)

    async def drop_vip(self, px: str) -> None:
        vip = self.vip
        await drop_address(await self.ctx.host(px), px, vip.interface, vip.address)

    async def uninstall(self, px: str) -> None:
        await uninstall_keepalived(await self.ctx.host(px), px)
