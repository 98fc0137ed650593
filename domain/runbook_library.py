"""The global runbook library: the runbooks every company gets, seeded by migration 0022.

Each runbook is bounded (ages, sizes and paths are parameters with safe defaults and patterns) and
idempotent where the job allows: a second run finds nothing more to clean or restarts a healthy
service. The migration holds its own copy of this data, so replaying it later gives the same rows;
`tests/unit/test_runbook_library.py` holds the two to each other and every entry to `validate`.
"""

from __future__ import annotations

import uuid

from domain.runbooks import (
    ParameterType,
    Platform,
    RunbookCategory,
    RunbookParameter,
    RunbookRisk,
    RunbookSpec,
)

INFRA, SERVICES, SECURITY, DATABASE = (
    RunbookCategory.INFRASTRUCTURE,
    RunbookCategory.SERVICES,
    RunbookCategory.SECURITY,
    RunbookCategory.DATABASE,
)
LINUX, WINDOWS = Platform.LINUX, Platform.WINDOWS
LOW, MEDIUM, HIGH = RunbookRisk.LOW, RunbookRisk.MEDIUM, RunbookRisk.HIGH
S, INT = ParameterType.STRING, ParameterType.INTEGER

#: Ids of the seeded runbooks derive from their names, so every database holds the same ones.
LIBRARY_NAMESPACE = uuid.UUID("6f1d2c1e-2a35-4d43-9a4c-3a5b0e6a2f10")

UNIT = r"[A-Za-z0-9@_.:-]{1,128}"
WIN_SERVICE = r"[A-Za-z0-9_.$ -]{1,128}"
DB_NAME = r"[A-Za-z0-9_$-]{1,63}"
SQL_SERVER = r"[A-Za-z0-9_.,\\-]{1,128}"
DISK_SIGNATURES = (
    "disk_space_low",
    "disk_full",
    "low_disk_space",
    "DiskFull",
    "DiskSpaceLow",
    "HighDiskUsage",
)
DISK_PATTERNS = (r"disk.*(full|space|usage)", r"(filesystem|volume).*(full|space|usage)", r"free.?space")
SECURITY_CATEGORY_GUID = "0FA1201D-4330-4FA8-8AE9-B877473B6441"  # Windows Update's "Security Updates"
_WU_SEARCH = "\"IsInstalled=0 and Type='Software' and CategoryIDs contains '" + SECURITY_CATEGORY_GUID + "'\""

LIBRARY: tuple[RunbookSpec, ...] = (
    # ---- infrastructure ------------------------------------------------------------------------
    RunbookSpec(
        name="Disk cleanup (Linux)",
        description="Frees space on a full filesystem: caps the systemd journal, empties the package "
        "cache, and deletes temporary files and rotated logs older than the given ages (never live logs, "
        "never other filesystems).",
        category=INFRA,
        platform=LINUX,
        signatures=DISK_SIGNATURES,
        signature_patterns=DISK_PATTERNS,
        risk=LOW,
        auto_approve=True,
        commands=(
            "df -h {{mount}}",
            "journalctl --vacuum-size={{journal_max_mb}}M",
            "if command -v apt-get >/dev/null; then apt-get clean; elif command -v dnf >/dev/null; then dnf clean all; elif command -v yum >/dev/null; then yum clean all; fi",
            "find /tmp /var/tmp -xdev -type f -mtime +{{tmp_age_days}} -delete",
            "find /var/log -xdev -type f \\( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' \\) -mtime +{{log_age_days}} -delete",
            "df -h {{mount}}",
        ),
        parameters=(
            RunbookParameter("mount", S, "/", "Mount point to report and check.", r"/[A-Za-z0-9_./-]{0,255}"),
            RunbookParameter("journal_max_mb", INT, 500, "Size the systemd journal is reduced to, in MiB."),
            RunbookParameter(
                "tmp_age_days", INT, 7, "Temporary files older than this many days are deleted."
            ),
            RunbookParameter("log_age_days", INT, 14, "Rotated logs older than this many days are deleted."),
            RunbookParameter("threshold_percent", INT, 90, "Healthy below this usage percentage."),
        ),
        health_check='test "$(df --output=pcent {{mount}} | tail -1 | tr -dc 0-9)" -lt {{threshold_percent}}',
        timeout_seconds=600,
    ),
    RunbookSpec(
        name="Disk cleanup (Windows)",
        description="Frees space on a full drive: deletes user and system temporary files older than the "
        "given age, empties the drive's recycle bin and cleans superseded Windows components.",
        category=INFRA,
        platform=WINDOWS,
        signatures=DISK_SIGNATURES,
        signature_patterns=DISK_PATTERNS,
        risk=LOW,
        auto_approve=True,
        commands=(
            "$cutoff = (Get-Date).AddDays(-{{tmp_age_days}})",
            'Get-ChildItem -Path $env:TEMP, "$env:SystemRoot\\Temp" -Recurse -File -Force -ErrorAction SilentlyContinue | Where-Object { $_.LastWriteTime -lt $cutoff } | Remove-Item -Force -ErrorAction SilentlyContinue',
            "Clear-RecycleBin -DriveLetter {{drive}} -Force -ErrorAction SilentlyContinue",
            "Dism.exe /Online /Cleanup-Image /StartComponentCleanup /Quiet",
            "Get-PSDrive -Name {{drive}} | Format-Table Name, Used, Free -AutoSize",
        ),
        parameters=(
            RunbookParameter("drive", S, "C", "Drive letter to clean and check.", r"[A-Za-z]"),
            RunbookParameter(
                "tmp_age_days", INT, 7, "Temporary files older than this many days are deleted."
            ),
            RunbookParameter("min_free_percent", INT, 10, "Healthy with at least this much free space."),
        ),
        health_check="$d = Get-PSDrive -Name {{drive}}; if ($d.Free * 100 / ($d.Used + $d.Free) -lt {{min_free_percent}}) { exit 1 }",
        timeout_seconds=1800,
    ),
    RunbookSpec(
        name="Memory and page cache cleanup (Linux)",
        description="Relieves memory pressure: lists the largest processes for the record, writes dirty "
        "pages back and drops the clean page cache (no process is killed, nothing is lost).",
        category=INFRA,
        platform=LINUX,
        signatures=("high_memory", "memory_high", "HighMemoryUsage", "low_memory", "MemoryPressure"),
        signature_patterns=(r"memory.*(high|usage|pressure|low)", r"(high|low).?mem"),
        risk=LOW,
        auto_approve=True,
        commands=(
            "free -m",
            "ps -eo pid,comm,rss --sort=-rss | head -n 11",
            "sync",
            "echo 1 > /proc/sys/vm/drop_caches",
            "free -m",
        ),
        parameters=(
            RunbookParameter(
                "min_available_percent", INT, 10, "Healthy with at least this much memory available."
            ),
        ),
        health_check="awk -v min={{min_available_percent}} '/^MemTotal:/ {t=$2} /^MemAvailable:/ {a=$2} END {exit !(a * 100 / t >= min)}' /proc/meminfo",
        timeout_seconds=120,
    ),
    RunbookSpec(
        name="Log rotation (Linux)",
        description="Runs logrotate now with the system configuration (after checking it parses) and "
        "trims journal entries older than the given number of days.",
        category=INFRA,
        platform=LINUX,
        signatures=("log_partition_full", "log_size_high", "var_log_full", "LogFileTooLarge"),
        signature_patterns=(r"log.*(size|full|large|growth)",),
        risk=LOW,
        auto_approve=True,
        commands=(
            "logrotate --debug {{config}} >/dev/null 2>&1",
            "logrotate --verbose {{config}}",
            "journalctl --vacuum-time={{journal_days}}d",
            "du -sh /var/log",
        ),
        parameters=(
            RunbookParameter(
                "config",
                S,
                "/etc/logrotate.conf",
                "logrotate configuration file.",
                r"/etc/[A-Za-z0-9_./-]{1,200}",
            ),
            RunbookParameter(
                "journal_days", INT, 14, "Journal entries older than this many days are removed."
            ),
        ),
        health_check="logrotate --debug {{config}} >/dev/null 2>&1",
        timeout_seconds=600,
    ),
    RunbookSpec(
        name="Event log archive and clear (Windows)",
        description="Archives a full Windows event log (Application, System or Setup; never Security) to "
        "an .evtx file under the Windows temp folder, then clears it.",
        category=INFRA,
        platform=WINDOWS,
        signatures=("event_log_full", "EventLogFull", "eventlog_full"),
        signature_patterns=(r"event.?log.*(full|size)",),
        risk=MEDIUM,
        commands=(
            "$dest = Join-Path $env:SystemRoot ('Temp\\' + {{log_name}} + '-' + (Get-Date -Format yyyyMMddHHmmss) + '.evtx')",
            "wevtutil epl {{log_name}} $dest",
            "if ($LASTEXITCODE -ne 0) { exit 1 }",
            "wevtutil cl {{log_name}}",
            'Write-Output "archived to $dest"',
        ),
        parameters=(
            RunbookParameter(
                "log_name", S, "Application", "The log to archive and clear.", r"Application|System|Setup"
            ),
        ),
        health_check="wevtutil gli {{log_name}}",
        timeout_seconds=300,
    ),
    # ---- services -------------------------------------------------------------------------------
    RunbookSpec(
        name="Nginx restart (Linux)",
        description="Checks the Nginx configuration and restarts Nginx only if it is valid; healthy when "
        "the unit is active and the given URL answers.",
        category=SERVICES,
        platform=LINUX,
        signatures=("nginx_down", "NginxDown", "nginx_not_running", "nginx_5xx"),
        signature_patterns=(r"nginx",),
        risk=LOW,
        auto_approve=True,
        commands=("nginx -t", "systemctl restart nginx", "systemctl --no-pager status nginx"),
        parameters=(
            RunbookParameter(
                "health_url",
                S,
                "http://127.0.0.1/",
                "URL that must answer 2xx/3xx.",
                r"https?://[^\s]{1,500}",
            ),
        ),
        health_check="systemctl is-active --quiet nginx && curl -fsS -o /dev/null --max-time 10 {{health_url}}",
        timeout_seconds=120,
    ),
    RunbookSpec(
        name="Apache restart (Linux)",
        description="Checks the Apache configuration (apache2 on Debian/Ubuntu, httpd on RHEL) and "
        "restarts it only if the configuration is valid.",
        category=SERVICES,
        platform=LINUX,
        signatures=("apache_down", "httpd_down", "ApacheDown", "apache_not_running"),
        signature_patterns=(r"apache|httpd",),
        risk=LOW,
        auto_approve=True,
        commands=(
            "if systemctl cat apache2 >/dev/null 2>&1; then unit=apache2; else unit=httpd; fi",
            "apachectl configtest",
            'systemctl restart "$unit"',
            'systemctl --no-pager status "$unit"',
        ),
        health_check="systemctl is-active --quiet apache2 || systemctl is-active --quiet httpd",
        timeout_seconds=120,
    ),
    RunbookSpec(
        name="Service restart (Linux)",
        description="Restarts one systemd unit, named by the `service` parameter, and shows its status.",
        category=SERVICES,
        platform=LINUX,
        signatures=("service_down", "ServiceDown", "process_not_running", "systemd_unit_failed"),
        signature_patterns=(r"(service|process|daemon|unit).*(down|stopped|not.?running|failed)",),
        risk=MEDIUM,
        commands=("systemctl restart {{service}}", "systemctl --no-pager status {{service}}"),
        parameters=(RunbookParameter("service", S, None, "The systemd unit to restart.", UNIT),),
        health_check="systemctl is-active --quiet {{service}}",
        timeout_seconds=180,
    ),
    RunbookSpec(
        name="Service restart (Windows)",
        description="Restarts one Windows service, named by the `service` parameter, and its dependants.",
        category=SERVICES,
        platform=WINDOWS,
        signatures=("service_down", "ServiceDown", "service_stopped", "windows_service_stopped"),
        signature_patterns=(r"(service|process).*(down|stopped|not.?running|failed)",),
        risk=MEDIUM,
        commands=(
            "Restart-Service -Name {{service}} -Force -ErrorAction Stop",
            "Get-Service -Name {{service}} | Format-Table Name, Status -AutoSize",
        ),
        parameters=(
            RunbookParameter("service", S, None, "The service name (not its display name).", WIN_SERVICE),
        ),
        health_check="if ((Get-Service -Name {{service}}).Status -ne 'Running') { exit 1 }",
        timeout_seconds=180,
    ),
    RunbookSpec(
        name="IIS application pool recycle (Windows)",
        description="Starts a stopped IIS application pool or recycles a running one (its worker "
        "processes are replaced gracefully), e.g. after a memory leak or 503s.",
        category=SERVICES,
        platform=WINDOWS,
        signatures=("iis_app_pool_stopped", "iis_down", "w3svc_down", "IISAppPoolDown", "http_503"),
        signature_patterns=(r"iis|app.?pool|w3svc",),
        risk=LOW,
        auto_approve=True,
        commands=(
            "Import-Module WebAdministration",
            "if ((Get-WebAppPoolState -Name {{app_pool}}).Value -ne 'Started') { Start-WebAppPool -Name {{app_pool}} } else { Restart-WebAppPool -Name {{app_pool}} }",
        ),
        parameters=(
            RunbookParameter(
                "app_pool", S, "DefaultAppPool", "The application pool.", r"[A-Za-z0-9_. -]{1,64}"
            ),
        ),
        health_check="Import-Module WebAdministration; if ((Get-WebAppPoolState -Name {{app_pool}}).Value -ne 'Started') { exit 1 }",
        timeout_seconds=120,
    ),
    RunbookSpec(
        name="PostgreSQL restart (Linux)",
        description="Restarts the PostgreSQL server unit; healthy once it accepts connections.",
        category=SERVICES,
        platform=LINUX,
        signatures=("postgres_down", "postgresql_down", "PostgresDown", "PostgreSQLDown", "database_down"),
        signature_patterns=(r"postgres.*(down|unreachable|not.?running)",),
        risk=MEDIUM,
        commands=("systemctl restart {{unit}}", "systemctl --no-pager status {{unit}}"),
        parameters=(RunbookParameter("unit", S, "postgresql", "The PostgreSQL systemd unit.", UNIT),),
        health_check="pg_isready -q -t 10",
        timeout_seconds=300,
    ),
    RunbookSpec(
        name="MySQL / MariaDB restart (Linux)",
        description="Restarts the MySQL or MariaDB server unit; healthy once it answers a ping.",
        category=SERVICES,
        platform=LINUX,
        signatures=("mysql_down", "mariadb_down", "MySQLDown", "MysqlDown"),
        signature_patterns=(r"(mysql|mariadb).*(down|unreachable|not.?running)",),
        risk=MEDIUM,
        commands=("systemctl restart {{unit}}", "systemctl --no-pager status {{unit}}"),
        parameters=(
            RunbookParameter("unit", S, "mysql", "The server's systemd unit (mysql, mysqld, mariadb).", UNIT),
        ),
        health_check="mysqladmin ping --silent",
        timeout_seconds=300,
    ),
    RunbookSpec(
        name="SQL Server restart (Windows)",
        description="Restarts a SQL Server instance's service (and SQL Agent with it).",
        category=SERVICES,
        platform=WINDOWS,
        signatures=("mssql_down", "sqlserver_down", "SQLServerDown", "mssql_service_stopped"),
        signature_patterns=(r"(mssql|sql.?server).*(down|stopped|unreachable)",),
        risk=MEDIUM,
        commands=(
            "Restart-Service -Name {{instance_service}} -Force -ErrorAction Stop",
            "Get-Service -Name {{instance_service}} | Format-Table Name, Status -AutoSize",
        ),
        parameters=(
            RunbookParameter(
                "instance_service",
                S,
                "MSSQLSERVER",
                "The instance's service name.",
                r"MSSQLSERVER|MSSQL\$[A-Za-z0-9_]{1,16}",
            ),
        ),
        health_check="if ((Get-Service -Name {{instance_service}}).Status -ne 'Running') { exit 1 }",
        timeout_seconds=600,
    ),
    # ---- security -------------------------------------------------------------------------------
    RunbookSpec(
        name="Security patch installation (Linux)",
        description="Installs pending security updates with the distribution's package manager (apt: the "
        "upgrade set, keeping changed configuration files; dnf/yum: security advisories only). No reboot.",
        category=SECURITY,
        platform=LINUX,
        signatures=(
            "security_updates_available",
            "patches_missing",
            "PendingSecurityUpdates",
            "vulnerable_packages",
        ),
        signature_patterns=(r"(security|patch).*(update|missing|pending)",),
        risk=HIGH,
        commands=(
            "if command -v apt-get >/dev/null; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confold upgrade; elif command -v dnf >/dev/null; then dnf -y -q upgrade --security; else yum -y -q update --security; fi",
            "if [ -f /var/run/reboot-required ]; then echo 'a reboot is required to finish'; fi",
        ),
        health_check="if command -v apt-get >/dev/null; then ! apt-get -s upgrade | grep -q '^Inst'; elif command -v dnf >/dev/null; then dnf -q check-update --security >/dev/null; else yum -q check-update --security >/dev/null; fi",
        timeout_seconds=3600,
    ),
    RunbookSpec(
        name="Security patch installation (Windows)",
        description="Downloads and installs pending Windows security updates through the Windows Update "
        "agent. No reboot; the output says whether one is required.",
        category=SECURITY,
        platform=WINDOWS,
        signatures=(
            "security_updates_available",
            "patches_missing",
            "PendingSecurityUpdates",
            "windows_updates_missing",
        ),
        signature_patterns=(r"(security|patch|windows).*(update|missing|pending)",),
        risk=HIGH,
        commands=(
            "$session = New-Object -ComObject Microsoft.Update.Session",
            "$result = $session.CreateUpdateSearcher().Search(" + _WU_SEARCH + ")",
            "if ($result.Updates.Count -eq 0) { Write-Output 'no security updates pending'; exit 0 }",
            "$downloader = $session.CreateUpdateDownloader(); $downloader.Updates = $result.Updates; $downloader.Download() | Out-Null",
            "$installer = $session.CreateUpdateInstaller(); $installer.Updates = $result.Updates; $outcome = $installer.Install()",
            "Write-Output ('result code {0}, reboot required: {1}' -f $outcome.ResultCode, $outcome.RebootRequired)",
            "if ($outcome.ResultCode -ne 2) { exit 1 }",
        ),
        health_check="if ((New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher().Search("
        + _WU_SEARCH
        + ").Updates.Count -gt 0) { exit 1 }",
        timeout_seconds=7200,
    ),
    RunbookSpec(
        name="TLS certificate renewal (Linux, certbot)",
        description="Renews the certbot-managed certificates that are due and reloads the web server; "
        "healthy when the served certificate stays valid for the given time.",
        category=SECURITY,
        platform=LINUX,
        signatures=(
            "ssl_certificate_expiring",
            "certificate_expiring",
            "cert_expiry",
            "SSLCertExpiringSoon",
            "tls_certificate_expired",
        ),
        signature_patterns=(r"(ssl|tls|cert).*(expir|invalid)",),
        risk=MEDIUM,
        commands=(
            "certbot renew --non-interactive --no-random-sleep-on-renew",
            "systemctl reload {{web_service}}",
        ),
        parameters=(
            RunbookParameter("web_service", S, "nginx", "The unit to reload after renewal.", UNIT),
            RunbookParameter(
                "host_port",
                S,
                "127.0.0.1:443",
                "Where the certificate is served.",
                r"[A-Za-z0-9_.-]{1,253}:[0-9]{1,5}",
            ),
            RunbookParameter(
                "server_name", S, "localhost", "The name (SNI) to ask for.", r"[A-Za-z0-9_.-]{1,253}"
            ),
            RunbookParameter(
                "min_valid_seconds", INT, 2592000, "Healthy when still valid this long (30 days)."
            ),
        ),
        health_check="echo | openssl s_client -connect {{host_port}} -servername {{server_name}} 2>/dev/null | openssl x509 -noout -checkend {{min_valid_seconds}}",
        timeout_seconds=600,
    ),
    RunbookSpec(
        name="Certificate auto-enrollment renewal (Windows)",
        description="Triggers certificate auto-enrollment (renews machine certificates issued by the "
        "domain's CA); healthy when no machine certificate expires within the given days.",
        category=SECURITY,
        platform=WINDOWS,
        signatures=("ssl_certificate_expiring", "certificate_expiring", "cert_expiry", "SSLCertExpiringSoon"),
        signature_patterns=(r"(ssl|tls|cert).*(expir|invalid)",),
        risk=MEDIUM,
        commands=(
            "certutil -pulse",
            "Get-ChildItem Cert:\\LocalMachine\\My | Sort-Object NotAfter | Format-Table Subject, NotAfter -AutoSize",
        ),
        parameters=(
            RunbookParameter("min_valid_days", INT, 30, "Healthy when no certificate expires sooner."),
        ),
        health_check="$now = Get-Date; if (Get-ChildItem Cert:\\LocalMachine\\My | Where-Object { $_.NotAfter -gt $now -and $_.NotAfter -lt $now.AddDays({{min_valid_days}}) }) { exit 1 }",
        timeout_seconds=300,
    ),
    RunbookSpec(
        name="Web root permission fix (Linux)",
        description="Restores the owner and the standard modes (directories 755, files 644) under one web "
        "root, e.g. after a deployment left files unreadable to the web server.",
        category=SECURITY,
        platform=LINUX,
        signatures=("permission_denied", "file_permissions_changed", "http_403", "PermissionDenied"),
        signature_patterns=(r"permission.*(denied|changed)", r"forbidden"),
        risk=MEDIUM,
        commands=(
            "chown -R {{owner}}:{{group}} {{path}}",
            "find {{path}} -xdev -type d -exec chmod 755 {} +",
            "find {{path}} -xdev -type f -exec chmod 644 {} +",
        ),
        parameters=(
            RunbookParameter(
                "path",
                S,
                "/var/www/html",
                "The web root (under /var/www or /srv).",
                r"(?!.*\.\.)/(var/www|srv)(/[A-Za-z0-9_./-]{0,255})?",
            ),
            RunbookParameter("owner", S, "www-data", "Owning user.", r"[a-z_][a-z0-9_-]{0,31}"),
            RunbookParameter("group", S, "www-data", "Owning group.", r"[a-z_][a-z0-9_-]{0,31}"),
        ),
        health_check='test -z "$(find {{path}} -xdev \\( -not -user {{owner}} -o -not -perm -u+r \\) -print -quit)"',
        timeout_seconds=600,
    ),
    RunbookSpec(
        name="ACL reset to inherited (Windows)",
        description="Replaces the explicit ACLs under one folder with the inherited ones (icacls /reset), "
        "e.g. after a tool locked the application's own service account out.",
        category=SECURITY,
        platform=WINDOWS,
        signatures=("permission_denied", "access_denied", "file_permissions_changed", "AccessDenied"),
        signature_patterns=(r"(permission|access).*(denied|changed)",),
        risk=MEDIUM,
        commands=("icacls {{path}} /reset /T /C /Q", "if ($LASTEXITCODE -ne 0) { exit 1 }"),
        parameters=(
            RunbookParameter(
                "path",
                S,
                None,
                "The folder (not a drive root or the Windows folder).",
                r"(?i)(?!.*\.\.)[a-z]:\\(?!windows(\\|$))[^/:*?\"<>|]{1,255}",
            ),
        ),
        health_check="if (-not (Test-Path -LiteralPath {{path}})) { exit 1 }",
        timeout_seconds=900,
    ),
    RunbookSpec(
        name="Fail2ban restart (Linux)",
        description="Restarts fail2ban so brute-force protection is back (its bans are restored from its "
        "database) and lists the active jails.",
        category=SECURITY,
        platform=LINUX,
        signatures=("fail2ban_down", "ssh_brute_force", "brute_force_detected", "BruteForceLogin"),
        signature_patterns=(r"brute.?force", r"fail2ban"),
        risk=LOW,
        auto_approve=True,
        commands=("systemctl restart fail2ban", "fail2ban-client status"),
        health_check="fail2ban-client ping",
        timeout_seconds=120,
    ),
    # ---- database -------------------------------------------------------------------------------
    RunbookSpec(
        name="PostgreSQL index rebuild (Linux)",
        description="Rebuilds a database's indexes without blocking writes (reindexdb --concurrently, "
        "PostgreSQL 12 or later), e.g. after index bloat.",
        category=DATABASE,
        platform=LINUX,
        signatures=("index_bloat", "postgres_index_bloat", "PostgresIndexBloat"),
        signature_patterns=(r"index.*(bloat|corrupt)",),
        risk=MEDIUM,
        commands=("sudo -u postgres reindexdb --concurrently --echo -d {{database}}",),
        parameters=(RunbookParameter("database", S, None, "The database to reindex.", DB_NAME),),
        health_check="sudo -u postgres psql -d {{database}} -tAc 'SELECT 1'",
        timeout_seconds=7200,
    ),
    RunbookSpec(
        name="PostgreSQL vacuum and analyze (Linux)",
        description="Vacuums and analyzes a database (no FULL: no exclusive locks), reclaiming dead rows "
        "and refreshing the planner's statistics.",
        category=DATABASE,
        platform=LINUX,
        signatures=(
            "dead_tuples_high",
            "table_bloat",
            "autovacuum_lagging",
            "PostgresTableBloat",
            "transaction_wraparound_risk",
        ),
        signature_patterns=(r"(vacuum|dead.?tuple|table.?bloat|wraparound)",),
        risk=LOW,
        auto_approve=True,
        commands=("sudo -u postgres vacuumdb --analyze --jobs={{jobs}} -d {{database}}",),
        parameters=(
            RunbookParameter("database", S, "postgres", "The database to vacuum.", DB_NAME),
            RunbookParameter("jobs", INT, 2, "Tables vacuumed in parallel."),
        ),
        health_check="sudo -u postgres psql -d {{database}} -tAc 'SELECT 1'",
        timeout_seconds=3600,
    ),
    RunbookSpec(
        name="PostgreSQL backup verification (Linux)",
        description="Checks that the newest custom-format dump in the backup folder is recent enough and "
        "readable (pg_restore --list reads its whole table of contents).",
        category=DATABASE,
        platform=LINUX,
        signatures=("backup_failed", "backup_missing", "backup_stale", "BackupFailed"),
        signature_patterns=(r"backup.*(fail|miss|stale|old)",),
        risk=LOW,
        auto_approve=True,
        commands=(
            "latest=$(find {{backup_dir}} -maxdepth 1 -type f -name '*.dump' -mtime -{{max_age_days}} -printf '%T@ %p\\n' | sort -n | tail -n 1 | cut -d' ' -f2-)",
            "if [ -z \"$latest\" ]; then echo 'no recent backup found'; exit 1; fi",
            'pg_restore --list "$latest" >/dev/null',
            'echo "backup $latest is readable"',
        ),
        parameters=(
            RunbookParameter(
                "backup_dir",
                S,
                "/var/backups/postgresql",
                "Folder holding the dumps.",
                r"/[A-Za-z0-9_./-]{1,255}",
            ),
            RunbookParameter("max_age_days", INT, 1, "The newest dump must be younger than this many days."),
        ),
        health_check="test -n \"$(find {{backup_dir}} -maxdepth 1 -type f -name '*.dump' -mtime -{{max_age_days}} -print -quit)\"",
        timeout_seconds=1800,
    ),
    RunbookSpec(
        name="SQL Server index maintenance (Windows)",
        description="Reorganizes every index of one database (online, interruptible) and updates its "
        "statistics.",
        category=DATABASE,
        platform=WINDOWS,
        signatures=("index_fragmentation", "mssql_index_fragmentation", "IndexFragmentationHigh"),
        signature_patterns=(r"index.*(fragment|bloat)",),
        risk=MEDIUM,
        commands=(
            "sqlcmd -S {{server}} -d {{database}} -E -b -Q \"EXEC sp_MSforeachtable 'ALTER INDEX ALL ON ? REORGANIZE'\"",
            "if ($LASTEXITCODE -ne 0) { exit 1 }",
            'sqlcmd -S {{server}} -d {{database}} -E -b -Q "EXEC sp_updatestats"',
            "if ($LASTEXITCODE -ne 0) { exit 1 }",
        ),
        parameters=(
            RunbookParameter("server", S, "localhost", "The instance (host or host\\instance).", SQL_SERVER),
            RunbookParameter("database", S, None, "The database.", r"[A-Za-z0-9_-]{1,128}"),
        ),
        health_check='sqlcmd -S {{server}} -d {{database}} -E -b -Q "SELECT 1"',
        timeout_seconds=7200,
    ),
    RunbookSpec(
        name="SQL Server backup verification (Windows)",
        description="Checks that the newest .bak in the backup folder is recent enough and restorable "
        "(RESTORE VERIFYONLY).",
        category=DATABASE,
        platform=WINDOWS,
        signatures=("backup_failed", "backup_missing", "backup_stale", "BackupFailed"),
        signature_patterns=(r"backup.*(fail|miss|stale|old)",),
        risk=LOW,
        auto_approve=True,
        commands=(
            "$file = Get-ChildItem -LiteralPath {{backup_dir}} -Filter *.bak -File | Sort-Object LastWriteTime -Descending | Select-Object -First 1",
            "if (-not $file -or $file.LastWriteTime -lt (Get-Date).AddDays(-{{max_age_days}})) { Write-Output 'no recent backup found'; exit 1 }",
            '$query = "RESTORE VERIFYONLY FROM DISK = N\'" + $file.FullName.Replace("\'", "\'\'") + "\'"',
            "sqlcmd -S {{server}} -E -b -Q $query",
            "if ($LASTEXITCODE -ne 0) { exit 1 }",
        ),
        parameters=(
            RunbookParameter(
                "backup_dir",
                S,
                "D:\\Backups",
                "Folder holding the backups.",
                r"[A-Za-z]:\\[^/:*?\"<>|]{0,255}",
            ),
            RunbookParameter(
                "max_age_days", INT, 1, "The newest backup must be younger than this many days."
            ),
            RunbookParameter("server", S, "localhost", "The instance (host or host\\instance).", SQL_SERVER),
        ),
        health_check="$file = Get-ChildItem -LiteralPath {{backup_dir}} -Filter *.bak -File | Where-Object { $_.LastWriteTime -gt (Get-Date).AddDays(-{{max_age_days}}) } | Select-Object -First 1; if (-not $file) { exit 1 }",
        timeout_seconds=3600,
    ),
)


def library_id(spec: RunbookSpec) -> uuid.UUID:
    """The seeded runbook's id: the same in every database."""
    return uuid.uuid5(LIBRARY_NAMESPACE, spec.name)
