"""The ``torouter`` command (CONTRACT §1). Its modules load what each command needs when it runs:
``torouter up`` only reads the config before it starts its router and goes on as the edge (one
worker) or becomes the supervisor (several), and is ready that much sooner."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from torouter.router.config import (
    WORKERS_WANTED,
    Config,
    ConfigError,
    edge_drain_s,
    load_config,
    workers_count,
)

if TYPE_CHECKING:
    from .keeper import RouterKeeper
    from .supervisor import Plan


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        import asyncio

        asyncio.run(coroutine)
    else:
        uvloop.run(coroutine)


def _config_path(args: argparse.Namespace, required: bool = True) -> Path | None:
    value = args.config or os.environ.get("TOROUTER_CONFIG")
    if not value:
        if required:
            raise SystemExit("torouter: --config FILE (or TOROUTER_CONFIG) is required")
        return None
    return Path(value)


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        for where, message in exc.problems:
            print(f"{path}: {where}: {message}", file=sys.stderr)
        raise SystemExit(1) from None


def cmd_check(args: argparse.Namespace) -> int:
    from torouter.router.plugins import PluginError, load_registry
    from torouter.router.server import check_kinds

    path = _config_path(args)
    assert path is not None
    try:
        config = load_config(path)
        problems = check_kinds(config, load_registry(disabled=config.plugins.disabled))
    except ConfigError as exc:
        problems = exc.problems
    except PluginError as exc:
        problems = [("plugins", str(exc))]
    for where, message in problems:
        print(f"{where}: {message}")
    if problems:
        print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(
        f"{path}: ok ({len(config.upstreams)} upstreams, {len(config.groups)} groups, "
        f"{len(config.keys)} keys)"
    )
    return 0


def _on_ready(args: argparse.Namespace) -> Callable[[], None] | None:
    """How a service run by ``torouter up`` says it is ready (``--ready-fd``)."""
    if args.ready_fd is None:
        return None
    from .supervisor import report_ready

    fd: int = args.ready_fd
    return lambda: report_ready(fd)


def cmd_router(args: argparse.Namespace) -> int:
    import logging

    from .aiohttp_import import import_aiohttp

    import_aiohttp()  # before the router's modules import it: cli/aiohttp_import.py
    from torouter.router.logs import RequestSink, fd_sink, setup_logging
    from torouter.router.server import serve

    from .open_files import raise_limit, served

    path = _config_path(args)
    assert path is not None
    config = _load(path)
    if args.listen:
        config = replace(config, router=replace(config.router, listen=args.listen))
    setup_logging("router", os.environ.get("TOROUTER_LOG_LEVEL", "INFO"))
    log = logging.getLogger("torouter.router")
    raise_limit(log)
    workers = args.workers or 1
    sink: RequestSink = fd_sink(sys.stderr.fileno())
    if workers > 1:  # several routers write to the same stderr: each line says which one
        sink = _with_pid(sink)
    try:
        service = serve(config, sink, workers=workers, on_ready=_on_ready(args))
        if args.parent is not None:  # the process that keeps this router (keeper.py, supervisor.py)
            from .keeper import kept

            service = kept(service, args.parent, args.listen)
        _run(served(service, log))
    except ConfigError as exc:
        for where, message in exc.problems:
            print(f"{path}: {where}: {message}", file=sys.stderr)
        return 1
    return 0


def _with_pid(sink: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    pid = os.getpid()

    def write(entry: dict[str, Any]) -> None:
        entry["pid"] = pid
        sink(entry)

    return write


def cmd_edge(args: argparse.Namespace) -> int:
    path = _config_path(args)
    assert path is not None
    config = _load(path)
    if args.router:
        config = replace(config, edge=replace(config.edge, router=args.router))
    return _run_edge(
        config,
        workers=args.workers or 1,
        metrics_dir=args.metrics_dir,
        worker_index=args.worker_index or 0,
        on_ready=_on_ready(args),
        parent=args.parent,
    )


def _run_edge(
    config: Config,
    *,
    workers: int = 1,
    metrics_dir: str | None = None,
    worker_index: int = 0,
    on_ready: Callable[[], None] | None = None,
    keeper: RouterKeeper | None = None,
    parent: int | None = None,
) -> int:
    """``parent``: the supervisor whose leaving stops this edge too (``keeper.kept``)."""
    import logging

    from .aiohttp_import import import_aiohttp

    import_aiohttp()  # before the edge's modules import it: cli/aiohttp_import.py
    from torouter.edge.app import ListenError, serve
    from torouter.router.logs import setup_logging

    from .open_files import raise_limit, served

    setup_logging("edge", os.environ.get("TOROUTER_LOG_LEVEL", "INFO"))
    log = logging.getLogger("torouter.edge")
    raise_limit(log)
    try:
        edge = serve(
            config,
            workers=workers,
            metrics_dir=metrics_dir,
            worker_index=worker_index,
            on_ready=on_ready,
            companion=keeper,
        )
        if parent is not None:
            from .keeper import kept

            edge = kept(edge, parent, None)
        _run(served(edge, log))
    except ListenError as exc:
        print(f"torouter edge: {exc}", file=sys.stderr)
        return 1
    return 1 if keeper is not None and keeper.failed else 0


def cmd_up(args: argparse.Namespace) -> int:
    """Reads the config, then starts the router and goes on as the edge keeping it (one worker:
    ``keeper.py``), or becomes the supervisor of the edges and routers (several: ``supervisor.py``,
    returning only when the config is refused)."""
    from .supervisor import Plan

    path = _config_path(args, required=False)
    key_hint: str | None = os.environ.get("TOROUTER_KEY")
    admin_hint: str | None = os.environ.get("TOROUTER_ADMIN_KEY")
    if path is None:
        from .defaults import write_default_setup

        setup = write_default_setup()
        path, key_hint, admin_hint = setup.config_path, setup.key, setup.admin_key
        print(f"torouter up: no --config given; using the built-in default ({path})", flush=True)
    config = _load(path)
    workers = args.workers or config.workers
    if workers > 1 and config.router.state.startswith("memory://"):
        print(
            f"torouter up: {workers} routers cannot share router.state memory:// "
            "(use sqlite:// or redis://, or one worker)",
            file=sys.stderr,
        )
        return 1
    plan = Plan(
        python=sys.executable,
        config=str(path.resolve()),
        workers=workers,
        edge_listen=config.edge.listen,
        router_listen=config.router.listen,
        unix_link=not config.router_link_given,
        router_stop_s=config.router.shutdown_grace_s,
        edge_stop_s=edge_drain_s(config),
        key_hint=key_hint or "",
        admin_hint=admin_hint or "",
    )
    if workers == 1:
        return _edge_keeping_router(plan, config)
    return _become_supervisor(plan)


def _become_supervisor(plan: Plan) -> NoReturn:
    """Replaces this process (same id) by ``supervisor.py`` in a fresh interpreter that loads only
    the standard library; the plan goes over an inherited pipe."""
    from . import supervisor

    data = plan.encode()
    if len(data) > 60_000:  # a pipe holds 64 KiB before a write waits for its reader
        raise SystemExit("torouter up: the config path is too long")
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)
    os.set_inheritable(read, True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-I", "-S", supervisor.__file__, str(read)])


def _edge_keeping_router(plan: Plan, config: Config) -> int:
    """One worker (``keeper.py``): starts the router, then goes on as the edge in this process (its
    config read already), keeping the router running."""
    from .keeper import RouterKeeper, router_child
    from .supervisor import router_target, socket_directory

    socket_dir = socket_directory() if plan.unix_link else None
    if socket_dir is not None:
        config = replace(config, edge=replace(config.edge, router=router_target(socket_dir, 0)))
    router = router_child(plan, socket_dir)
    router.start()
    keeper = RouterKeeper(plan, router, socket_dir)
    return _run_edge(config, on_ready=keeper.on_ready, keeper=keeper)


def cmd_plugins(args: argparse.Namespace) -> int:
    """Lists the registered upstream kinds and wire protocols, with the plugin, package and version
    that registered each (the config's ``plugins.disabled`` applied when a config is given)."""
    from torouter.router.plugins import PluginError, load_registry

    path = _config_path(args, required=False)
    disabled = _load(path).plugins.disabled if path is not None else ()
    try:
        registry = load_registry(disabled=disabled)
    except PluginError as exc:
        print(f"torouter plugins: {exc}", file=sys.stderr)
        return 1
    print(f"{'TYPE':<9} {'NAME':<16} {'PROTOCOL':<12} {'PLUGIN':<14} {'PACKAGE':<20} VERSION")
    rows = [("protocol", name, "-") for name in sorted(registry.protocols)]
    rows += [("kind", name, registry.kinds[name].protocol) for name in sorted(registry.kinds)]
    for what, name, protocol in rows:
        origin = registry.origins[f"{what}:{name}"]
        print(
            f"{what:<9} {name:<16} {protocol:<12} {origin.plugin:<14} {origin.package:<20} {origin.version}"
        )
    if disabled:
        print(f"disabled: {', '.join(disabled)}")
    return 0


def _store_url(args: argparse.Namespace) -> tuple[str, Config | None]:
    path = _config_path(args, required=False)
    if path is not None:
        config = _load(path)
        return config.router.state, config
    from .defaults import data_dir

    return f"sqlite:///{data_dir() / 'torouter.db'}", None


def _key_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The limits and restrictions given as flags (only those given), as the admin API takes them."""
    fields: dict[str, Any] = {}
    for name in ("rpm", "tpm", "spend_cap_usd", "requests_5h", "requests_24h", "requests_7d", "expires_at"):
        value = getattr(args, name, None)
        if value is not None:
            fields[name] = value
    for name in ("ip_allow", "ip_deny"):
        if getattr(args, name, None):
            fields[name] = getattr(args, name)
    if getattr(args, "models", None) is not None:
        fields["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    for name in getattr(args, "clear", None) or ():
        fields[name] = None
    return fields


def _restrictions(view: dict[str, Any]) -> str:
    shown = []
    for name in ("requests_5h", "requests_24h", "requests_7d", "expires_at", "ip_allow", "ip_deny", "models"):
        value = view.get(name)
        if value:
            shown.append(f"{name}={','.join(value) if isinstance(value, list) else value}")
    return " ".join(shown) or "-"


def cmd_keys(args: argparse.Namespace) -> int:
    import asyncio

    from torouter.router.account.key_admin import KeyAdmin, KeyProblem
    from torouter.router.state import open_store
    from torouter.router.state.outage import StateUnavailable

    url, config = _store_url(args)
    store = open_store(url)
    admin = KeyAdmin(store, config)
    result = 0

    async def run() -> None:
        nonlocal result
        try:
            if args.keys_command == "create":
                fields = {"group": args.group, **_key_fields(args)}
                if args.name:
                    fields["name"] = args.name
                if args.expires_in_days is not None:
                    fields["expires_in_days"] = args.expires_in_days
                created = await admin.create(fields)
                record = created.record
                print(f"created key {record.name!r} in group {record.group!r}; its secret (shown once):")
                print(created.secret)
            elif args.keys_command == "update":
                record = await admin.update(args.name, _key_fields(args))
                print(f"updated key {record.name!r}: {_restrictions(await admin.view(record))}")
            elif args.keys_command == "list":
                print(
                    f"{'NAME':<20} {'KEY':<16} {'GROUP':<12} {'RPM':>6} {'TPM':>8} {'SPEND/CAP':>16}  "
                    f"{'STATUS':<8} RESTRICTIONS"
                )
                for key in await admin.list():
                    view = await admin.view(key)
                    cap = view.get("spend_cap_usd")
                    spend = f"${view['spend_usd']:.2f}/" + (f"${cap:g}" if cap else "-")
                    status = "revoked" if key.revoked else "expired" if view["expired"] else "active"
                    print(
                        f"{key.name:<20} {view['key_hint']:<16} {key.group:<12} {key.rpm or '-':>6} "
                        f"{key.tpm or '-':>8} {spend:>16}  {status:<8} {_restrictions(view)}"
                    )
            elif args.keys_command == "revoke":
                await admin.revoke(args.name)
                print(f"revoked key {args.name!r}")
        except KeyProblem as problem:
            flag = f"--{problem.field.split('[')[0].replace('_', '-')}: " if problem.field else ""
            print(f"torouter keys: {flag}{problem.message}", file=sys.stderr)
            result = 1
        except StateUnavailable as unavailable:
            print(f"torouter keys: {unavailable.message} ({url.split('://')[0]})", file=sys.stderr)
            result = 1
        finally:
            await store.close()

    asyncio.run(run())
    return result


def _restriction_flags(p: argparse.ArgumentParser, *, clearable: bool) -> None:
    p.add_argument("--rpm", type=int, help="requests per minute (0: none)")
    p.add_argument("--tpm", type=int, help="tokens per minute (0: none)")
    p.add_argument("--spend-cap-usd", type=float, help="total spend ceiling in USD (0: none) -> 402")
    for window in ("5h", "24h", "7d"):
        p.add_argument(
            f"--requests-{window}", type=int, help=f"sliding {window} request window (0: off) -> 429"
        )
    p.add_argument("--expires-at", help="RFC 3339 time after which the key is refused (401)")
    p.add_argument("--ip-allow", action="append", metavar="CIDR", help="allowed client CIDR (repeatable)")
    p.add_argument("--ip-deny", action="append", metavar="CIDR", help="denied client CIDR (repeatable)")
    p.add_argument("--models", help="comma-separated model allowlist (others: 403)")
    if clearable:
        p.add_argument(
            "--clear",
            action="append",
            metavar="FIELD",
            help="remove a limit or restriction (e.g. --clear ip_allow); repeatable",
        )


def cmd_usage(args: argparse.Namespace) -> int:
    from .usage import print_usage

    path = _config_path(args, required=False)
    config = _load(path) if path is not None else None
    return print_usage(args, config)


def _workers(value: str) -> int:
    count = workers_count(value)
    if count is None:
        raise argparse.ArgumentTypeError(WORKERS_WANTED)
    return count


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="torouter", description="ToRouter LLM gateway")
    sub = top.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", help="config file (default: $TOROUTER_CONFIG)")
        return p

    up = with_config(sub.add_parser("up", help="run the router and the edge together"))
    up.add_argument(
        "--workers",
        type=_workers,
        help="edge/router pairs to run: a number, or auto (one per core); default: the config's, 1",
    )
    up.set_defaults(func=cmd_up)
    edge = with_config(sub.add_parser("edge", help="run only the HTTP edge"))
    edge.add_argument("--router", help=argparse.SUPPRESS)  # torouter up: the router to call
    edge.add_argument("--metrics-dir", help=argparse.SUPPRESS)  # torouter up: where edges share /metrics
    edge.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)  # torouter up: which edge this is
    edge.set_defaults(func=cmd_edge)
    router = with_config(sub.add_parser("router", help="run only the gRPC router"))
    router.add_argument("--listen", help=argparse.SUPPRESS)  # torouter up: where to listen
    router.set_defaults(func=cmd_router)
    for service in (edge, router):  # set by torouter up (supervisor.py) for the services it runs
        service.add_argument("--workers", type=int, help=argparse.SUPPRESS)
        service.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
        service.add_argument("--parent", type=int, help=argparse.SUPPRESS)  # stop when it is gone
    with_config(sub.add_parser("check", help="validate a config file")).set_defaults(func=cmd_check)
    with_config(
        sub.add_parser("plugins", help="list the upstream kinds and protocols, and the plugins that add them")
    ).set_defaults(func=cmd_plugins)
    keys = sub.add_parser("keys", help="manage caller keys in the state store")
    keys.set_defaults(func=cmd_keys)
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print its secret once")
    create.add_argument("--group", required=True)
    create.add_argument("--name")
    _restriction_flags(create, clearable=False)
    create.add_argument("--expires-in-days", type=float, help="expire the key N days from now")
    with_config(create)
    update = with_config(keys_sub.add_parser("update", help="change a key's limits and restrictions"))
    update.add_argument("name")
    _restriction_flags(update, clearable=True)
    with_config(keys_sub.add_parser("list", help="list keys (never secrets)"))
    revoke = with_config(keys_sub.add_parser("revoke", help="revoke a key"))
    revoke.add_argument("name")
    usage = with_config(sub.add_parser("usage", help="usage and cost from the usage store"))
    usage.add_argument("--since", default="7d", help="7d, 24h or a date (YYYY-MM-DD); default 7d")
    usage.add_argument("--key", help="only this key (by name)")
    usage.add_argument("--model", help="only this model (as served)")
    usage.add_argument("--group", help="only this group")
    usage.add_argument("--by", choices=("model", "key", "day", "group"), default="model")
    usage.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    usage.set_defaults(func=cmd_usage)
    return top


# gRPC's event-engine endpoints cost ~0.1 ms and ~15% CPU per call on the edge→router hop
# (measured with grpcio 1.85); the classic ones are used unless the operator says otherwise. It must
# be set before grpc is imported, and child processes of `torouter up` inherit it.
GRPC_EXPERIMENTS = "-event_engine_client,-event_engine_listener,-event_engine_for_all_other_endpoints"


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GRPC_EXPERIMENTS", GRPC_EXPERIMENTS)
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
