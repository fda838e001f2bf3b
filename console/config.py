"""Typed settings from defaults, a YAML file and the procedures manual's environment variables.

Precedence is default < file < environment < command-line flag. Every value remembers where it
came from (``default``, ``file:line``, ``env NAME`` or ``flag``) so ``config show`` can say so,
and every error names the file, the line and the key, with the nearest valid key when one was
misspelt. The schema is the dataclasses below: a field's metadata holds its environment
variable, whether it is a secret, its allowed values and its documentation.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from console.errors import ConfigError, UsageError
from console.instances import DEFAULT, NAME_PATTERN
from console.instances import label as instance_label
from console.root import BackupRoot

if TYPE_CHECKING:
    from console.yamlfile import YamlNode

MASK = "********"


def setting(
    default: Any,
    doc: str,
    *,
    env: str | None = None,
    secret: bool = False,
    choices: tuple[str, ...] | None = None,
    check: str | None = None,
) -> Any:
    """Declare one setting: its default, its documentation and how it is validated."""
    metadata = {"doc": doc, "env": env, "secret": secret, "choices": choices, "check": check}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class PostgresSettings:
    host: str = setting("127.0.0.1", "PostgreSQL host name or address.", env="POSTGRES_HOST")
    port: int = setting(5432, "PostgreSQL port.", env="POSTGRES_PORT", check="port")
    user: str = setting("postgres", "PostgreSQL role used for probes and backups.", env="POSTGRES_USER")
    password: str = setting(
        "", "Password for `user`; passed to pg_dump in its environment (PGPASSWORD), never argv or a file.",
        env="POSTGRES_PASSWORD", secret=True,
    )
    password_file: str = setting("", "File whose first line is the password (an instance's own secret); `password` wins.")
    database: str = setting("postgres", "Database probed and backed up by default.", env="POSTGRES_DB")
    databases: list = setting([], "Databases `backup postgres` covers when --db is not given; empty means `database`.")
    sql_compression: str = setting(
        "gzip", "Compression of the SQL text dump: gzip (.sql.gz, manual-compatible) or zstd (.sql.zst).",
        choices=("gzip", "zstd"),
    )
    archive: bool = setting(False, "Also write archives/backup_<ts>.tar of each set (the manual's Step 6).")
    long_transaction_seconds: int = setting(
        300, "Pre-flight fails when a transaction is open longer than this.", check="positive"
    )
    lock_wait_timeout_seconds: int = setting(
        300, "How long pg_dump waits for a table lock (held by a migration, say) before the backup fails instead "
        "of hanging; 0 waits forever, as the manual's pg_dump did.", check="non_negative"
    )
    wal_archive_dir: str = setting("", "Where archive_command copies WAL files (for `wal status`); empty if unknown.")
    dump_compression: str = setting(
        "zstd", "Custom dump compression: zstd (backup_<db>_<ts>.dump.zst, fast, restore pipes it through zstd) or "
        "pg_dump (backup_<db>_<ts>.dump compressed by pg_dump itself, manual-compatible, several times slower).",
        choices=("zstd", "pg_dump"),
    )
    zstd_level: int = setting(1, "zstd level (1-19) for .dump.zst and .sql.zst; 1 keeps up with pg_dump.", check="positive")
    base_zstd_level: int = setting(
        1, "zstd level of base backups (base.tar.zst), -7 to 19: 1 is the default; negative levels (zstd --fast) "
        "cost about a quarter less CPU for files about a fifth bigger (bench/README.md).", check="zstd_level")
    base_compression: str = setting(
        "auto", "Who compresses base backups: auto (server-lz4 when the server and pg_basebackup are 15 or later, "
        "zstd otherwise), zstd (here, base.tar.zst at base_zstd_level), server-lz4 (the server, base.tar.lz4: the "
        "fastest backup and restore, files about 45 % bigger) or server-zstd (the server, base.tar.zst at "
        "base_zstd_level); bench/README.md.", choices=("auto", "zstd", "server-lz4", "server-zstd"))
    gzip_level: int = setting(1, "gzip level (1-9) for .sql.gz; with ISA-L (the isal package, a dependency) capped at 3. "
                              "1 is the fastest and keeps up with pg_dump.", check="positive")
    pg_dump_level: int = setting(6, "pg_dump -Z level (1-9) when dump_compression is pg_dump (the manual used 9).",
                                 check="positive")
    bin_dir: str = setting("", "Directory of pg_dump and pg_restore; empty means the newest /usr/lib/postgresql/*/bin.")


@dataclass(frozen=True)
class RedisSettings:
    host: str = setting("127.0.0.1", "Redis host name or address.", env="REDIS_HOST")
    port: int = setting(6379, "Redis port.", env="REDIS_PORT", check="port")
    password: str = setting("", "Redis password (requirepass); sent with AUTH, never on argv.", env="REDIS_PASSWORD", secret=True)
    password_file: str = setting("", "File whose first line is the password (an instance's own secret); `password` wins.")
    username: str = setting("", "Redis ACL user name; empty for the default user.")
    data_dir: str = setting("", "Local path of Redis's data dir when readable here; empty means ask CONFIG GET dir.")
    bgsave_timeout_seconds: int = setting(300, "How long to wait for BGSAVE to finish.", check="positive")
    memory_threshold_pct: int = setting(90, "Pre-flight warns when used memory exceeds this share of maxmemory.", check="percent")
    max_replication_lag_seconds: int = setting(10, "Pre-flight fails when a replica lags more than this.", check="positive")


@dataclass(frozen=True)
class RabbitMQSettings:
    host: str = setting("127.0.0.1", "RabbitMQ host name or address.", env="RABBITMQ_HOST")
    amqp_port: int = setting(5672, "AMQP port (used to tell 'API down' from 'broker down').", check="port")
    management_port: int = setting(15672, "Management HTTP API port.", check="port")
    management_url: str = setting("", "Full management API URL (e.g. https://mq:15671); overrides host/management_port.")
    user: str = setting("guest", "Management API user.", env="RABBITMQ_USER")
    password: str = setting("guest", "Management API password.", env="RABBITMQ_PASSWORD", secret=True)
    password_file: str = setting("", "File whose first line is the password (an instance's own secret); wins over "
                                 "the default `guest` but not over a password given in the file or environment.")
    vhost: str = setting("", "Limit listings to one vhost; empty means every vhost.")
    export_timeout_seconds: float = setting(60.0, "Connect/read timeout of the API calls of a backup or restore "
                                            "(a large broker's definitions take longer than a probe's).",
                                            check="positive")


@dataclass(frozen=True)
class S3Settings:
    bucket: str = setting("", "Bucket for offsite copies; empty disables S3.", env="BACKUP_S3_BUCKET")
    prefix: str = setting("", "Key prefix inside the bucket (e.g. prod/).")
    endpoint_url: str = setting("", "S3 endpoint for S3-compatible stores; empty means AWS.")
    region: str = setting("", "Region; empty means the credential chain's default.")
    storage_class: str = setting(
        "STANDARD_IA", "Storage class of uploads.",
        choices=("STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "GLACIER_IR", "DEEP_ARCHIVE"),
    )
    sse: str = setting("AES256", "Server-side encryption: AES256, aws:kms or none.", choices=("AES256", "aws:kms", "none"))
    kms_key_id: str = setting("", "KMS key id when sse is aws:kms.")
    multipart_threshold_mb: int = setting(64, "Files above this size upload in parts.", check="positive")
    part_size_mb: int = setting(8, "Size of one part of a multipart upload (S3's minimum, 5, is enforced).", check="positive")
    upload_concurrency: int = setting(
        8, "Parts of one multipart upload in flight at once (each sent from the file, not held in memory); "
        "1 uploads them one after another.", check="positive")
    max_attempts: int = setting(5, "Attempts per S3 request; 5xx, throttling and timeouts are retried with backoff.", check="positive")
    transfer_timeout_seconds: float = setting(60.0, "Connect/read timeout of upload and download requests.", check="positive")
    sign_payloads: bool = setting(
        False, "Over plain HTTP, also sign a SHA-256 of every uploaded body, for an S3-compatible server that refuses "
        "UNSIGNED-PAYLOAD (the signed checksum header of each object and part already binds its body; over HTTPS "
        "botocore never signs such bodies).")


@dataclass(frozen=True)
class EncryptionSettings:
    key: str = setting("", "Passphrase for encrypted artefacts.", env="BACKUP_ENCRYPTION_KEY", secret=True)
    key_file: str = setting("", "File holding the passphrase (first line), instead of `key`.")


@dataclass(frozen=True)
class RetentionSettings:
    backup_days: int = setting(30, "Retention written into each set's metadata.", env="BACKUP_RETENTION_DAYS", check="positive")
    local_days: int = setting(7, "Default local retention.", env="LOCAL_RETENTION_DAYS", check="positive")
    s3_days: int = setting(30, "Default S3 Standard retention.", env="S3_RETENTION_DAYS", check="positive")
    min_keep: int = setting(3, "Never keep fewer sets than this per kind and database.", check="positive")
    policy_file: str = setting("", "Retention policy YAML; empty means config/retention.yaml shipped with the console.")
    report_days: int = setting(
        90, "Verification reports (BACKUP_DIR/reports) older than this are removed by `retention apply`; the newest "
        "report, and the newest with results for each kind, are kept whatever their age.", check="positive"
    )


@dataclass(frozen=True)
class ConfigBackupSettings:
    source_dir: str = setting("", "Application tree backed up by `backup config`; empty: not configured (the "
                              "working directory is never a default).", env="CONFIG_SOURCE_DIR")
    exclude: list = setting([], "Extra glob patterns left out of config_<ts>.tar.gz.")
    encrypt: list = setting([], "Extra glob patterns encrypted separately, like .env files.")


@dataclass(frozen=True)
class CertSettings:
    cert_dir: str = setting("", "Where TLS certificates and keys are searched; empty: not configured (the working "
                            "directory is never a default).", env="CERT_DIR")
    warn_days: int = setting(30, "Warn when a certificate expires within this many days (at least critical_days).",
                            check="positive")
    critical_days: int = setting(7, "Critical when a certificate expires within this many days.", check="positive")
    p12_password: str = setting("", "Password of PKCS#12 files.", secret=True)


@dataclass(frozen=True)
class ChecklistSettings:
    dir: str = setting("", "Directory of operators' own checklist YAML files, added to the shipped ones.")


@dataclass(frozen=True)
class AlertSettings:
    webhook_url: str = setting("", "Webhook receiving alerts; empty disables alerts.", secret=True)
    format: str = setting("json", "Webhook body: json (generic) or slack.", choices=("json", "slack"))
    repeat_minutes: int = setting(60, "The same alert is not sent again within this period.", check="positive")
    timeout_seconds: float = setting(5.0, "Webhook request timeout.", check="positive")
    retries: int = setting(3, "Webhook attempts per alert before giving up until the next `monitor` run.", check="positive")
    stale_hours: int = setting(26, "A scheduled kind is stale (alert) when its newest backup is older than this.", check="positive")
    scheduled_kinds: list = setting(
        ["postgres", "redis", "rabbitmq", "config", "certs"],
        "Kinds backed up daily by `schedule print` and watched for freshness by `monitor`.",
    )


@dataclass(frozen=True)
class UISettings:
    refresh_seconds: float = setting(5.0, "Dashboard refresh interval; the next refresh starts when the last one ends.", check="positive")
    theme: str = setting("backup-console", "Theme name (a Textual theme or one from themes/).")
    keymap: dict = setting({}, "Key overrides by binding id, e.g. {run-backup: ctrl+r}.")


@dataclass(frozen=True)
class Settings:
    """Everything the console needs to know, resolved and validated."""

    backup_dir: Path = setting("./backups", "Root of the backups (postgres/, redis/, rabbitmq/, config/, certs/ below it).", env="BACKUP_DIR")
    read_only: bool = setting(False, "Refuse every destructive action (restore, retention apply, terminate).")
    timeout_seconds: float = setting(3.0, "Timeout of every network call made by probes.", check="positive")
    file_mode: str = setting("0600", "Permissions (octal) of files the console writes or restores: backups, restored "
                             "Redis files.", check="octal")
    dir_mode: str = setting("0700", "Permissions (octal) of directories the console creates under BACKUP_DIR and "
                            "for restores.", check="octal")
    max_parallel_backups: int = setting(2, "Instances backed up at once by `backup KIND --all`.", check="positive")
    parallel_same_server: bool = setting(False, "Let `--all` back up two instances on the same host:port at once.")
    host_name: str = setting("", "This backup host's name in fleet records (`status --fleet`); empty: the machine's.")
    postgres: PostgresSettings = field(default_factory=PostgresSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    rabbitmq: RabbitMQSettings = field(default_factory=RabbitMQSettings)
    s3: S3Settings = field(default_factory=S3Settings)
    encryption: EncryptionSettings = field(default_factory=EncryptionSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    config_backup: ConfigBackupSettings = field(default_factory=ConfigBackupSettings)
    certs: CertSettings = field(default_factory=CertSettings)
    checklists: ChecklistSettings = field(default_factory=ChecklistSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    ui: UISettings = field(default_factory=UISettings)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    """Where each dotted key's value came from."""
    config_path: Path | None = field(default=None, compare=False)
    """The YAML file that was read, if any."""
    instances: Mapping[str, tuple["Instance", ...]] = field(default_factory=dict, compare=False, repr=False)
    """kind -> its instances, as configured (a kind not configured with ``instances:`` has ``default``)."""
    scope: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    """kind -> the instance these settings speak for (``for_instance``); a kind not named: ``default``."""

    @property
    def file_mode_bits(self) -> int:
        return int(self.file_mode.removeprefix("0o"), 8)

    @property
    def dir_mode_bits(self) -> int:
        return int(self.dir_mode.removeprefix("0o"), 8)

    @property
    def root(self) -> BackupRoot:
        """Every path under ``backup_dir`` (the kinds' directories those of the scoped instances)."""
        return BackupRoot(self.backup_dir, dict(self.scope))

    def instance_of(self, kind: str) -> str:
        """The instance of ``kind`` these settings speak for."""
        return self.scope.get(kind, DEFAULT)

    def instances_of(self, kind: str) -> tuple[Instance, ...]:
        """The configured instances of ``kind``: ``default`` alone unless the file names others."""
        found = self.instances.get(kind)
        if found:
            return found
        section = SECTION_OF_KIND.get(kind)
        return (Instance(kind, DEFAULT, getattr(self, section) if section else None),)

    def instance(self, kind: str, name: str) -> Instance:
        """The instance ``name`` of ``kind``; UsageError naming the configured ones otherwise."""
        known = self.instances_of(kind)
        for instance in known:
            if instance.name == name:
                return instance
        names = [instance.name for instance in known]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UsageError(f"{kind} has no instance '{name}'{hint}: configured: {', '.join(names)}",
                         hint=f"instances are set under {SECTION_OF_KIND.get(kind, kind)}.instances in the config file")

    def for_instance(self, kind: str, name: str) -> Settings:
        """These settings as ``kind``'s instance ``name`` sees them: its own section, S3 prefix and
        retention, and its own directory under BACKUP_DIR (``root``). Settings already scoped to it
        are returned as they are, so callers need not check."""
        if self.scope.get(kind) == name:
            return self
        instance = self.instance(kind, name)
        changes: dict[str, Any] = {"scope": {**self.scope, kind: name}}
        section = SECTION_OF_KIND.get(kind)
        if section and instance.section is not None:
            changes[section] = instance.section
        if instance.s3_prefix:
            changes["s3"] = dataclasses.replace(self.s3, prefix=instance.s3_prefix)
        if instance.retention:
            changes["retention"] = dataclasses.replace(self.retention, **instance.retention)
        return dataclasses.replace(self, **changes)

    def describe(self) -> list[SettingValue]:
        """Every setting with its value (secrets masked) and source, in schema order; then every
        named instance's own values (``postgres.instances.analytics.host``)."""
        values = [
            SettingValue(spec.key, _masked(spec, _get(self, spec.key)), self.sources.get(spec.key, "default"), spec.secret)
            for spec in schema()
        ]
        specs = {spec.key: spec for spec in schema()}
        for kind, instances in self.instances.items():
            section = SECTION_OF_KIND[kind]
            for instance in instances:
                prefix = f"{section}.instances.{instance.name}"
                for key, source in instance.sources.items():
                    if key in INSTANCE_KEYS:
                        value = instance.extra_value(key)
                        values.append(SettingValue(f"{prefix}.{key}", value, source, False))
                        continue
                    spec = specs[f"{section}.{key}"]
                    values.append(SettingValue(f"{prefix}.{key}", _masked(spec, getattr(instance.section, key)),
                                               source, spec.secret))
        return values


SECTION_OF_KIND: dict[str, str] = {"postgres": "postgres", "redis": "redis", "rabbitmq": "rabbitmq",
                                   "config": "config_backup", "certs": "certs"}
"""Which settings section describes a kind's server or tree (and may hold ``instances:``)."""

INSTANCE_KEYS: dict[str, str] = {
    "tags": "Labels to group and filter instances by (`env: prod`, `team: payments`).",
    "s3_prefix": "Key prefix of this instance's sets in the bucket, instead of `<s3.prefix>/<kind>@<name>/`.",
    "schedule": "nightly (the 02:00 chain, the default), off (never scheduled or watched for freshness) or HH:MM.",
    "retention": "Overrides of local_days, s3_days and min_keep for this instance's sets.",
}
"""Keys an instance takes besides its section's."""

_RETENTION_OVERRIDES = ("local_days", "s3_days", "min_keep")


@dataclass(frozen=True)
class Instance:
    """One named server or tree of a kind: its section's settings, resolved (section defaults < its own keys)."""

    kind: str
    name: str
    section: Any
    """The kind's settings section for this instance (``PostgresSettings`` ...), or None for a kind without one."""
    tags: Mapping[str, str] = field(default_factory=dict)
    s3_prefix: str = ""
    schedule: str = "nightly"
    retention: Mapping[str, int] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    """Key -> where it was set, for the keys the instance sets itself."""

    @property
    def label(self) -> str:
        return instance_label(self.kind, self.name)

    @property
    def scheduled(self) -> bool:
        return self.schedule != "off"

    def extra_value(self, key: str) -> Any:
        return {"tags": dict(self.tags), "s3_prefix": self.s3_prefix, "schedule": self.schedule,
                "retention": dict(self.retention)}[key]

    def matches(self, selector: str) -> bool:
        """``tag=value``, ``tag`` (any value) or a name; what the dashboard's context switch and ``--tag`` take."""
        key, equals, value = selector.partition("=")
        if equals:
            return self.tags.get(key) == value
        return selector == self.name or selector in self.tags


@dataclass(frozen=True)
class SettingValue:
    key: str
    value: Any
    source: str
    secret: bool


@dataclass(frozen=True)
class FieldSpec:
    """One leaf setting of the schema, addressed by its dotted key."""

    key: str
    type: Any
    default: Any
    doc: str
    env: str | None
    secret: bool
    choices: tuple[str, ...] | None
    check: str | None


_TOP_HINTS = typing.get_type_hints(Settings)
_SECTION_TYPES: dict[str, type] = {name: kind for name, kind in _TOP_HINTS.items() if dataclasses.is_dataclass(kind)}


@functools.cache
def schema() -> tuple[FieldSpec, ...]:
    """The leaf settings, top-level first, then each section's in declaration order."""
    specs: list[FieldSpec] = []
    for top in dataclasses.fields(Settings):
        if top.name in ("sources", "config_path", "instances", "scope"):
            continue
        kind = _TOP_HINTS[top.name]
        if kind in _SECTION_TYPES.values():
            sub_hints = typing.get_type_hints(kind)
            for sub in dataclasses.fields(kind):
                specs.append(_spec(f"{top.name}.{sub.name}", sub, sub_hints[sub.name]))
        else:
            specs.append(_spec(top.name, top, kind))
    return tuple(specs)


def _spec(key: str, fld: dataclasses.Field, kind: Any) -> FieldSpec:
    default = fld.default if fld.default is not dataclasses.MISSING else fld.default_factory()  # type: ignore[misc]
    meta = fld.metadata
    return FieldSpec(key, kind, default, meta["doc"], meta["env"], meta["secret"], meta["choices"], meta["check"])


def _get(settings: Settings, key: str) -> Any:
    value: Any = settings
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _masked(spec: FieldSpec, value: Any) -> Any:
    if spec.secret and value:
        return MASK
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str) and "@" in value:  # a URL may carry user:password@ (management_url, endpoint_url)
        from console.redact import mask_url

        return mask_url(value)
    return value


# --- discovery -------------------------------------------------------------------------------


def find_config_file(explicit: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path | None:
    """Locate the YAML file: --config, $BACKUP_CONSOLE_CONFIG, XDG config dir, ./backup-console.yaml."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} (from --config) does not exist or is not a file")
        return path
    from_env = env.get("BACKUP_CONSOLE_CONFIG")
    if from_env:
        path = Path(from_env).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} (from $BACKUP_CONSOLE_CONFIG) does not exist or is not a file")
        return path
    xdg = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    candidates = [Path(xdg) / "backup-console" / "config.yaml", Path("backup-console.yaml")]
    return next((path for path in candidates if path.is_file()), None)


# --- loading ---------------------------------------------------------------------------------


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve settings from defaults, the discovered YAML file, the environment and flags.

    Args:
        config_path: the --config argument, if given.
        env: the environment (os.environ by default).
        overrides: dotted key -> value from command-line flags (e.g. {"read_only": True}).

    Raises:
        ConfigError: with file:line and key for anything wrong.
    """
    env = os.environ if env is None else env
    specs = {spec.key: spec for spec in schema()}
    values: dict[str, Any] = {key: spec.default for key, spec in specs.items()}
    sources: dict[str, str] = {key: "default" for key in specs}

    path = find_config_file(config_path, env)
    declared: dict[str, list[DeclaredInstance]] = {}
    if path is not None:
        found, declared = _read_yaml(path, specs)
        for key, (value, line) in found.items():
            values[key] = value
            sources[key] = f"{path}:{line}"

    for key, spec in specs.items():
        raw = env.get(spec.env) if spec.env else None
        if raw:  # the manual's scripts treat an empty variable as unset (${VAR:-default})
            values[key] = _coerce_env(spec, raw)
            sources[key] = f"env {spec.env}"

    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in specs:
            raise ConfigError(f"unknown setting '{key}' given on the command line")
        values[key] = value
        sources[key] = "flag"

    _check_relations(values, sources)
    for section in SECTION_OF_KIND.values():
        _read_password_file(values, sources, section)
    settings = _build(values, sources, path)
    instances = {kind: tuple(_instance(settings, kind, item) for item in declared[section])
                 for kind, section in SECTION_OF_KIND.items() if declared.get(section)}
    _check_wal_archives(settings, instances.get("postgres", ()), declared.get("postgres", []))
    return dataclasses.replace(settings, instances=instances)


def _build(values: dict[str, Any], sources: dict[str, str], path: Path | None) -> Settings:
    sections: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    for key, value in values.items():
        if "." in key:
            section, name = key.split(".", 1)
            sections.setdefault(section, {})[name] = value
        else:
            top[key] = value
    top["backup_dir"] = Path(top["backup_dir"]).expanduser().absolute()
    built = {name: _SECTION_TYPES[name](**fields) for name, fields in sections.items()}
    return Settings(**top, **built, sources=sources, config_path=path)


# --- instances -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeclaredInstance:
    """An instance as the file declares it: its name, its line and its own keys (validated, with lines)."""

    name: str
    where: str
    keys: dict[str, tuple[Any, str]]


def _instance(settings: Settings, kind: str, declared: DeclaredInstance) -> Instance:
    """Resolve one instance: the section's values (themselves default < file < env < flag) under its own keys."""
    section = SECTION_OF_KIND[kind]
    values = {f"{section}.{name}": value for name, value in dataclasses.asdict(getattr(settings, section)).items()}
    sources = {key: settings.sources.get(key, "default") for key in values}
    own: dict[str, str] = {}
    extra: dict[str, Any] = {}
    for key, (value, where) in declared.keys.items():
        own[key] = where
        if key in INSTANCE_KEYS:
            extra[key] = value
        else:
            values[f"{section}.{key}"] = value
            sources[f"{section}.{key}"] = where
    if "password" in declared.keys:  # its own password wins over a password_file it inherits
        values[f"{section}.password_file"] = ""
    elif "password_file" in declared.keys:  # the file's password, not the one the section inherits
        values[f"{section}.password"] = _SECTION_TYPES[section]().password
        sources[f"{section}.password"] = "default"
    _check_relations(values, sources)
    before = values.get(f"{section}.password")
    _read_password_file(values, sources, section)
    if values.get(f"{section}.password") != before:
        own["password"] = sources[f"{section}.password"]
    if kind == "postgres" and declared.name != DEFAULT and "wal_archive_dir" not in declared.keys:
        # a WAL archive holds one cluster's WAL: a named instance never inherits the section's
        values["postgres.wal_archive_dir"] = str(wal_archive_default(settings.backup_dir, declared.name))
    fields = {key.split(".", 1)[1]: value for key, value in values.items()}
    return Instance(kind, declared.name, _SECTION_TYPES[section](**fields), tags=extra.get("tags", {}),
                    s3_prefix=extra.get("s3_prefix", ""), schedule=extra.get("schedule", "nightly"),
                    retention=extra.get("retention", {}), sources=own)


def wal_archive_default(backup_dir: Path, instance: str) -> Path:
    """A named PostgreSQL instance's WAL archive when it sets no ``wal_archive_dir``: ``postgres@<name>/wal``."""
    return BackupRoot(backup_dir).kind_dir("postgres", instance) / "wal"


def _check_wal_archives(settings: Settings, instances: tuple[Instance, ...], declared: list[DeclaredInstance]) -> None:
    """Two clusters archiving into one directory would mix their WAL (the same file names, other
    contents) and make both unrestorable: refuse it, naming the line."""
    where = {item.name: item.where for item in declared}
    seen: dict[str, str] = {}
    if settings.postgres.wal_archive_dir:
        seen[os.path.normpath(settings.postgres.wal_archive_dir)] = "postgres.wal_archive_dir"
    for instance in instances:
        if instance.name == DEFAULT or not instance.section.wal_archive_dir:
            continue
        directory = os.path.normpath(instance.section.wal_archive_dir)
        if directory in seen:
            raise ConfigError(f"{where.get(instance.name, 'config')}: postgres.instances.{instance.name} archives WAL "
                              f"into {directory}, as {seen[directory]} does: each cluster needs its own WAL archive",
                              hint=f"remove its wal_archive_dir (it then uses {wal_archive_default(settings.backup_dir, instance.name)})")
        seen[directory] = f"postgres.instances.{instance.name}.wal_archive_dir"


def _read_password_file(values: dict[str, Any], sources: dict[str, str], section: str) -> None:
    """``password_file``: its first line becomes ``password`` unless a password was given (file, env, flag)."""
    key = f"{section}.password_file"
    path_text = values.get(key)
    if not path_text:
        return
    password_key = f"{section}.password"
    given = sources.get(password_key, "default") != "default"
    if given and values.get(password_key):
        return
    path = Path(path_text).expanduser()
    try:
        first = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
        raise ConfigError(f"{_location(sources.get(key, 'default'))}: cannot read '{key}' {path}: {reason}") from None
    if not first or not first[0].strip():
        raise ConfigError(f"{_location(sources.get(key, 'default'))}: '{key}' {path} is empty (its first line is "
                          "the password)")
    values[password_key] = first[0].strip()
    sources[password_key] = f"file {path}"


def _validate_instance_key(key: str, value: Any, where: str) -> Any:
    if key == "tags":
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, (str, int, float)) and not isinstance(v, bool) for k, v in value.items()):
            raise ConfigError(f"{where}: 'tags' must map names to words (env: prod), got {value!r}")
        return {k: str(v) for k, v in value.items()}
    if key == "s3_prefix":
        if not isinstance(value, str):
            raise ConfigError(f"{where}: 's3_prefix' must be text, got {value!r}")
        return value.strip("/")
    if key == "schedule":
        if value is False:  # YAML 1.1 reads a bare `off` as false
            return "off"
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
            value = f"{value // 60:02d}:{value % 60:02d}"  # and a bare 03:30 as the base-60 number 210
        text = str(value).strip() if isinstance(value, str) else ""
        if text in ("nightly", "off") or _is_clock_time(text):
            return text
        raise ConfigError(f"{where}: 'schedule' must be nightly, off or a time HH:MM, got {value!r}")
    if key == "retention":
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: 'retention' must be a mapping of {', '.join(_RETENTION_OVERRIDES)}")
        for name, days in value.items():
            if name not in _RETENTION_OVERRIDES:
                close = difflib.get_close_matches(str(name), _RETENTION_OVERRIDES, n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                raise ConfigError(f"{where}: unknown key '{name}' in 'retention'.{hint}")
            if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
                raise ConfigError(f"{where}: 'retention.{name}' must be a whole number greater than 0, got {days!r}")
        return dict(value)
    raise AssertionError(key)


def _is_clock_time(text: str) -> bool:
    hours, colon, minutes = text.partition(":")
    return bool(colon) and hours.isdigit() and minutes.isdigit() and len(minutes) == 2 \
        and 0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59


def _read_yaml(path: Path, specs: dict[str, FieldSpec]) -> tuple[dict[str, tuple[Any, int]], dict[str, list[DeclaredInstance]]]:
    """Parse the file into dotted key -> (validated value, 1-based line), and each section's instances."""
    from console.yamlfile import read_yaml  # here: without a file, the console's first frame need not load PyYAML

    with read_yaml(path, "config file") as root:
        if root is None:
            return {}, {}
        if not root.is_mapping:
            raise ConfigError(f"{root.where}: the file must be a mapping of settings")
        found: dict[str, tuple[Any, int]] = {}
        declared: dict[str, list[DeclaredInstance]] = {}
        sections = {key.split(".")[0] for key in specs if "." in key}
        top = root.fields(sorted({key.split(".")[0] for key in specs}))
        for name in top:
            line, value_node = top.line(name), top.node(name)
            if name not in sections:
                found[name] = (_validate(specs[name], value_node.value(), top.where(name)), line)
                continue
            if value_node.is_null:
                continue  # an empty section means "all defaults"
            if not value_node.is_mapping:
                raise ConfigError(f"{top.where(name)}: '{name}' must be a mapping of settings")
            has_instances = name in SECTION_OF_KIND.values()
            valid = sorted(key.split(".", 1)[1] for key in specs if key.startswith(name + "."))
            section = value_node.fields(valid + (["instances"] if has_instances else []), f"section '{name}'")
            for sub_name in section:
                if sub_name == "instances":
                    declared[name] = _read_instances(section.node(sub_name), name, specs)
                    continue
                dotted = f"{name}.{sub_name}"
                found[dotted] = (_validate(specs[dotted], section.value(sub_name), section.where(sub_name)),
                                 section.line(sub_name))
        return found, declared


def _read_instances(node: YamlNode, section: str, specs: dict[str, FieldSpec]) -> list[DeclaredInstance]:
    """``<section>.instances``: name -> the section's keys plus INSTANCE_KEYS, each checked with its line."""
    if not node.is_mapping or not node.node.value:
        raise ConfigError(f"{node.where}: '{section}.instances' must map instance names to their settings "
                          "(main: {host: db1.internal})")
    section_keys = sorted(key.split(".", 1)[1] for key in specs if key.startswith(section + "."))
    valid = sorted(set(section_keys) | set(INSTANCE_KEYS))
    names = node.fields(None, f"section '{section}.instances'")
    declared = []
    for name in names:
        where_name = names.where(name)
        if not NAME_PATTERN.fullmatch(name):
            raise ConfigError(f"{where_name}: instance name '{name}' in '{section}.instances' must be lower-case "
                              "letters, digits, - and _ (it names a directory, a lock and an S3 prefix)")
        value_node = names.node(name)
        if value_node.is_null:
            declared.append(DeclaredInstance(name, where_name, {}))
            continue  # `cache:` alone: every key from the section
        if not value_node.is_mapping:
            raise ConfigError(f"{where_name}: instance '{name}' of '{section}' must be a mapping of settings")
        fields = value_node.fields(valid, f"section '{section}.instances.{name}'")
        keys: dict[str, tuple[Any, str]] = {}
        for key in fields:
            where, value = fields.where(key), fields.value(key)
            if key in INSTANCE_KEYS:
                keys[key] = (_validate_instance_key(key, value, where), where)
            else:
                keys[key] = (_validate(specs[f"{section}.{key}"], value, where), where)
        declared.append(DeclaredInstance(name, where_name, keys))
    return declared


_TYPE_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text", Path: "a path",
               list: "a list", dict: "a mapping"}


def _validate(spec: FieldSpec, value: Any, where: str) -> Any:
    """Check a value read from YAML against its spec; return it converted."""
    kind = spec.type

    def wrong() -> ConfigError:
        got = "nothing" if value is None else type(value).__name__
        return ConfigError(f"{where}: '{spec.key}' must be {_TYPE_WORDS.get(kind, kind)}, got {got} ({value!r})")

    if kind is bool:
        if not isinstance(value, bool):
            raise wrong()
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong()
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{where}: '{spec.key}' must be a finite number, got {value}")
    elif kind in (str, Path):
        if spec.check == "octal" and isinstance(value, int) and not isinstance(value, bool):
            value = f"0{value:o}"  # YAML 1.1 reads `file_mode: 0600` as the number 384
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # `password: 123456` is text, however YAML reads it
        if not isinstance(value, str):
            raise wrong()
        if kind is Path and not value.strip():
            raise ConfigError(f"{where}: '{spec.key}' is empty; give a directory (an empty path would mean the "
                              "current directory)")
    elif kind is list:
        if not isinstance(value, list):
            raise wrong()
        for index, item in enumerate(value, 1):
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                shown = "nothing" if item is None else {dict: "a mapping", list: "a list"}.get(type(item), type(item).__name__)
                raise ConfigError(f"{where}: '{spec.key}' must be a list of names; item {index} is {shown} ({item!r})")
        value = [str(item) for item in value]
    elif kind is dict:
        if not isinstance(value, dict):
            raise wrong()
        for key, item in value.items():
            if not isinstance(key, (str, int)) or isinstance(item, (dict, list)):
                raise ConfigError(f"{where}: '{spec.key}' must map names to values; {key!r}: {item!r} is not that")
        value = {str(k): str(v) for k, v in value.items()}
    return _check(spec, value, where)


def _coerce_env(spec: FieldSpec, raw: str) -> Any:
    where = f"environment variable {spec.env}"
    kind = spec.type
    try:
        if kind is int:
            value: Any = int(raw)
        elif kind is float:
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError(raw)
        elif kind is bool:
            lowered = raw.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            value = lowered in ("1", "true", "yes", "on")
        elif kind is list:
            value = [item.strip() for item in raw.split(",") if item.strip()]
        else:
            value = raw
    except ValueError:
        shown = MASK if spec.secret else repr(raw)
        raise ConfigError(f"{where}: '{spec.key}' must be {_TYPE_WORDS.get(kind, kind)}, got {shown}") from None
    return _check(spec, value, where)


def _check(spec: FieldSpec, value: Any, where: str) -> Any:
    if spec.check == "octal":
        text = str(value).strip()
        if not text or any(ch not in "01234567" for ch in text.removeprefix("0o")) or int(text.removeprefix("0o"), 8) > 0o7777:
            raise ConfigError(f"{where}: '{spec.key}' must be an octal mode such as 0600 or 0700, got '{value}'")
        if int(text.removeprefix("0o"), 8) & 0o7000:
            raise ConfigError(f"{where}: '{spec.key}' may not set setuid, setgid or sticky bits, got '{value}'")
    if spec.check == "port" and not 1 <= value <= 65535:
        raise ConfigError(f"{where}: bad port {value} for '{spec.key}' (must be 1-65535)")
    if spec.check == "positive" and value <= 0:
        raise ConfigError(f"{where}: '{spec.key}' must be greater than 0, got {value}")
    if spec.check == "non_negative" and value < 0:
        raise ConfigError(f"{where}: '{spec.key}' must be 0 or more, got {value}")
    if spec.check == "zstd_level" and not (-7 <= value <= 19 and value != 0):
        raise ConfigError(f"{where}: '{spec.key}' must be a zstd level from -7 to 19 other than 0 "
                          f"(negative levels are zstd --fast), got {value}")
    if spec.check == "percent" and not 1 <= value <= 100:
        raise ConfigError(f"{where}: '{spec.key}' must be a percentage from 1 to 100, got {value}")
    if spec.choices and value not in spec.choices:
        by_lower = {choice.lower(): choice for choice in spec.choices}
        close = difflib.get_close_matches(str(value).lower(), list(by_lower), n=1)
        hint = f" Did you mean '{by_lower[close[0]]}'?" if close else ""
        raise ConfigError(f"{where}: '{spec.key}' must be one of {', '.join(spec.choices)}, got '{value}'.{hint}")
    return value


# --- relations between settings --------------------------------------------------------------


@dataclass(frozen=True)
class AtLeast:
    """``larger`` may not be set below ``smaller`` (each valid alone, contradictory together)."""

    larger: str
    smaller: str
    why: str

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.larger, self.smaller)

    def problem(self, values: Mapping[str, Any]) -> str | None:
        larger, smaller = values[self.larger], values[self.smaller]
        if larger >= smaller:
            return None
        return f"'{self.larger}' ({larger}) must not be smaller than '{self.smaller}' ({smaller}): {self.why}"


RELATIONS: tuple[AtLeast, ...] = (
    AtLeast("certs.warn_days", "certs.critical_days", "a certificate must warn before it turns critical"),
)
"""Checked once every layer is applied, since a file may set one key and a flag the other."""

_SOURCE_RANK = {"default": 0, "flag": 3}


def _check_relations(values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    for relation in RELATIONS:
        if not all(key in values for key in relation.keys):  # one instance's section: only its own relations
            continue
        message = relation.problem(values)
        if message is None:
            continue
        # Blame the key set by the latest layer (flag > env > file): the value that overrode a working pair.
        culprit = max(relation.keys, key=lambda key: _rank(sources[key]))
        raise ConfigError(f"{_location(sources[culprit])}: {message}")


def _rank(source: str) -> int:
    return _SOURCE_RANK.get(source, 2 if source.startswith("env ") else 1)


def _location(source: str) -> str:
    """A value's source as the start of an error, in the words the other errors use."""
    if source.startswith("env "):
        return f"environment variable {source[4:]}"
    if source == "flag":
        return "command line"
    return source  # file:line, or "default"


# --- documentation ---------------------------------------------------------------------------


def example_yaml() -> str:
    """The documented example file: every key with its default, generated from the schema."""
    import yaml

    lines = [
        "# backup-console configuration: every key, with its default.",
        "# Found by --config, then $BACKUP_CONSOLE_CONFIG, then $XDG_CONFIG_HOME/backup-console/config.yaml,",
        "# then ./backup-console.yaml. The procedures manual's environment variables override this file;",
        "# command-line flags override both. Relative paths are relative to the working directory.",
        "",
    ]
    current_section: str | None = None
    for spec in schema():
        section, _, name = spec.key.rpartition(".")
        indent = "  " if section else ""
        if section != current_section and section:
            lines += ["", f"{section}:"]
            current_section = section
        env = f" (env {spec.env})" if spec.env else ""
        lines.append(f"{indent}# {spec.doc}{env}")
        default = str(spec.default) if isinstance(spec.default, Path) else spec.default
        rendered = yaml.safe_dump({name or spec.key: default}, default_flow_style=True, width=1000).strip()
        lines.append(f"{indent}{rendered[1:-1]}")
    lines += [
        "",
        "# Several servers (or trees) of one kind: name them under the kind's section (postgres, redis,",
        "# rabbitmq, config_backup, certs). The section's keys are their defaults; each instance takes the",
        "# section's keys plus:",
        *(f"#   {key}: {doc}" for key, doc in INSTANCE_KEYS.items()),
        "# Without `instances:` the section is the one instance called `default` (the manual's layout).",
        "# postgres:",
        "#   instances:",
        "#     main:      {host: db1.internal, databases: [shop, billing]}",
        "#     analytics: {host: db2.internal, port: 5433, tags: {env: prod}}",
        "# redis:",
        "#   instances:",
        "#     cache: {host: 127.0.0.1, port: 6379}",
        "#     queue: {host: 127.0.0.1, port: 6380, password_file: /etc/backup-console/redis-queue.pass}",
    ]
    return "\n".join(lines) + "\n"
