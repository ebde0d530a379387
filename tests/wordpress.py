"""A real WordPress for the tests: Debian's `wordpress` package on PHP's built-in server.

`WordPressSite.start()` builds a throwaway site in a temp folder:

- a MariaDB of its own (`mariadb-install-db`, then `mariadbd` as `nobody` on a
  Unix socket in that folder, no TCP), stopped by its pid;
- a document root of its own: Debian's /usr/share/wordpress/wp-config.php
  reads /etc/wordpress, which a test must not write, so the top-level PHP
  files are copied (PHP resolves `__FILE__` through symlinks: a symlinked
  wp-load.php would load Debian's config from /usr/share/wordpress), the
  wp-admin and wp-includes folders are symlinked (everything in them loads
  through ABSPATH, the copy's folder), and wp-config.php and a writable
  wp-content (uploads, a minimal theme) are the site's own;
- `php -S 127.0.0.1:PORT` with a router that sends what is not a file to
  index.php, as Apache's rewrite rules do;
- WordPress installed by its own `wp_install()` from php-cli, with plain
  permalinks (the REST root is then `/?rest_route=/`), the environment type
  `local` (WordPress accepts Application Passwords over plain HTTP only
  there), and three users, each with an Application Password: an
  administrator, an author (may upload, may not create categories) and a
  contributor (may not upload).

`php(code)` runs PHP with WordPress loaded, for seeding posts and reading
the site's state the way WordPress itself sees it. `.ci/run` installs the
packages; `available()` says whether they are here.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.ports import free_port

WORDPRESS = Path("/usr/share/wordpress")
MARIADBD = Path("/usr/sbin/mariadbd")
INSTALL_DB = Path("/usr/bin/mariadb-install-db")
UNPRIVILEGED = "nobody"
START_TIMEOUT = 120.0
UPLOAD_LIMIT = "2M"  # PHP's limit on a request's body: a test sends a larger image

ROUTER = """<?php
// What Apache's rewrite rules do for WordPress: a file is served as it is,
// anything else goes to index.php (pretty permalinks, /wp-json/).
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) ?: '/';
$file = $_SERVER['DOCUMENT_ROOT'] . $path;
if ($path !== '/' && (is_file($file) || is_file(rtrim($file, '/') . '/index.php'))) {
    return false;
}
$_SERVER['SCRIPT_NAME'] = '/index.php';
$_SERVER['PHP_SELF'] = '/index.php';
$_SERVER['SCRIPT_FILENAME'] = $_SERVER['DOCUMENT_ROOT'] . '/index.php';
require $_SERVER['DOCUMENT_ROOT'] . '/index.php';
"""

# A must-use plugin of the test site: a test chooses a moment by a request the site
# really receives. `gate.json` ({"method", "route": a PCRE}) holds the answer to the
# first matching REST request, after WordPress handled it, until `gate.release`
# exists (`gate.reached` says it is held); `fail.json` ({"method", "route",
# "status", "times"}) answers matching requests with a plugin's error instead.
MU_PLUGIN = """<?php
function gladtui_test_matches($file, $request) {
    if (!is_file($file)) { return null; }
    $rule = json_decode(file_get_contents($file), true);
    $ok = $request->get_method() === $rule['method']
        && preg_match($rule['route'], $request->get_route());
    return $ok ? $rule : null;
}
add_filter('rest_pre_dispatch', function ($result, $server, $request) {
    $file = WP_CONTENT_DIR . '/fail.json';
    $rule = gladtui_test_matches($file, $request);
    if ($rule === null) { return $result; }
    if (--$rule['times'] <= 0) { @unlink($file); }
    else { file_put_contents($file, json_encode($rule)); }
    return new WP_Error('test_plugin_failed', 'A plugin failed while handling this',
        ['status' => $rule['status']]);
}, 10, 3);
add_filter('rest_post_dispatch', function ($response, $server, $request) {
    $file = WP_CONTENT_DIR . '/gate.json';
    if (gladtui_test_matches($file, $request) === null || !@rename($file, "$file.held")) {
        return $response;
    }
    file_put_contents(WP_CONTENT_DIR . '/gate.reached', '1');
    $deadline = time() + 600;
    while (!is_file(WP_CONTENT_DIR . '/gate.release') && time() < $deadline) {
        usleep(20000);
    }
    return $response;
}, 10, 3);
"""

THEME_CSS = "/*\nTheme Name: gladtui test\n*/\n"
THEME_INDEX = "<?php // a theme that shows nothing: the tests read the REST API\n"

# Runs in php-cli with WordPress loaded: install, users, Application Passwords.
INSTALL = """
function wp_mail() { return true; }  // no mail server: the installer's notice goes nowhere
define('WP_INSTALLING', true);
$db = new mysqli('localhost', 'root', '', '', 0, getenv('GT_SOCKET'));
$db->query('CREATE DATABASE IF NOT EXISTS wordpress');
require getenv('GT_DOCROOT') . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
wp_install('gladtui test site', 'admin', 'admin@example.test', true, '',
    wp_slash(getenv('GT_ADMIN_PASSWORD')));
update_option('permalink_structure', '');
$out = [];
foreach (['admin' => 'administrator', 'author' => 'author', 'contrib' => 'contributor']
         as $login => $role) {
    $user = get_user_by('login', $login);
    $id = $user ? $user->ID : wp_insert_user([
        'user_login' => $login, 'user_pass' => wp_generate_password(24),
        'user_email' => "$login@example.test", 'role' => $role]);
    [$password] = WP_Application_Passwords::create_new_application_password(
        $id, ['name' => 'gladtui']);
    $out[$login] = ['id' => $id, 'password' => $password];
}
echo json_encode($out);
"""


def available() -> bool:
    """Are Debian's wordpress, mariadb-server and php-cli (with php-mysql) installed?"""
    return (
        (WORDPRESS / "wp-settings.php").exists()
        and MARIADBD.exists()
        and INSTALL_DB.exists()
        and shutil.which("php") is not None
    )


@dataclass
class WordPressSite:
    root: Path
    port: int = 0
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    started_seconds: float = 0.0
    _db: subprocess.Popen[bytes] | None = None
    _php: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def docroot(self) -> Path:
        return self.root / "site"

    @property
    def socket(self) -> Path:
        return self.root / "db.sock"

    @property
    def uploads(self) -> Path:
        return self.docroot / "wp-content" / "uploads"

    def password(self, login: str) -> str:
        return str(self.users[login]["password"])

    @classmethod
    def start(cls) -> WordPressSite:
        started = time.monotonic()
        root = Path(tempfile.mkdtemp(prefix="gt-wp-", dir="/tmp"))  # short: the socket path
        site = cls(root=root, port=free_port())
        try:
            site._start_database()
            site._build_docroot()
            site.users = json.loads(site.php(INSTALL, load=False))
            site._start_php()
        except BaseException:
            site.stop()
            raise
        site.started_seconds = time.monotonic() - started
        return site

    def stop(self) -> None:
        if self._php is not None and self._php.poll() is None:
            # php -S forks its workers (PHP_CLI_SERVER_WORKERS); they outlive their
            # parent unless the whole group, led by the server's pid, is stopped.
            os.killpg(self._php.pid, signal.SIGTERM)
        for process in (self._php, self._db):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._php = self._db = None
        shutil.rmtree(self.root, ignore_errors=True)

    def php(self, code: str, *, load: bool = True) -> str:
        """Run `code` in php-cli (with WordPress loaded unless `load` is false); its stdout."""
        prelude = f"require {str(self.docroot / 'wp-load.php')!r};\n" if load else ""
        env = {
            **os.environ,
            "GT_SOCKET": str(self.socket),
            "GT_DOCROOT": str(self.docroot),
            "GT_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        }
        result = subprocess.run(
            ["php", "-d", "display_errors=stderr", "-r", prelude + code],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.docroot,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"php failed ({result.returncode}): {result.stderr[-2000:]}")
        return result.stdout

    @property
    def content(self) -> Path:
        return self.docroot / "wp-content"

    def hold(self, method: str, route: str) -> Gate:
        """Hold the answer to the next `method` `route` (a PCRE) request; see MU_PLUGIN."""
        for name in ("gate.reached", "gate.release", "gate.json.held"):
            (self.content / name).unlink(missing_ok=True)
        (self.content / "gate.json").write_text(json.dumps({"method": method, "route": route}))
        return Gate(self.content)

    def fail(self, method: str, route: str, status: int, times: int = 1) -> None:
        """Answer the next `times` matching requests with a plugin's error `status`."""
        rule = {"method": method, "route": route, "status": status, "times": times}
        (self.content / "fail.json").write_text(json.dumps(rule))

    def _start_database(self) -> None:
        owner = pwd.getpwnam(UNPRIVILEGED) if os.geteuid() == 0 else None
        data = self.root / "db"
        data.mkdir(mode=0o700)
        if owner is not None:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            os.chown(data, owner.pw_uid, owner.pw_gid)
        user = [f"--user={UNPRIVILEGED}"] if owner is not None else []
        common = ["--no-defaults", f"--datadir={data}", *user]
        subprocess.run(
            [str(INSTALL_DB), *common, "--auth-root-authentication-method=normal",
             "--skip-test-db", "--skip-name-resolve"],
            capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        self._db = subprocess.Popen(
            [str(MARIADBD), *common, f"--socket={self.socket}", "--skip-networking",
             f"--pid-file={self.root / 'db.pid'}", f"--log-error={self.root / 'db.log'}",
             "--innodb-buffer-pool-size=32M", "--innodb-flush-log-at-trx-commit=0",
             "--performance-schema=OFF", "--skip-name-resolve"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._wait(lambda: _accepts_unix(self.socket), self._db, "mariadbd", "db.log")

    def _build_docroot(self) -> None:
        docroot = self.docroot
        docroot.mkdir()
        for source in WORDPRESS.glob("*.php"):
            if source.name not in ("wp-config.php", "wp-config-sample.php"):
                shutil.copyfile(source, docroot / source.name)
        for folder in ("wp-admin", "wp-includes"):
            (docroot / folder).symlink_to(WORDPRESS / folder)
        theme = docroot / "wp-content" / "themes" / "gladtest"
        theme.mkdir(parents=True)
        (theme / "style.css").write_text(THEME_CSS)
        (theme / "index.php").write_text(THEME_INDEX)
        (docroot / "wp-content" / "plugins").mkdir()
        (docroot / "wp-content" / "mu-plugins").mkdir()
        (docroot / "wp-content" / "mu-plugins" / "gladtui-test.php").write_text(MU_PLUGIN)
        self.uploads.mkdir()
        (docroot / "wp-config.php").write_text(self._config())
        (self.root / "router.php").write_text(ROUTER)

    def _config(self) -> str:
        keys = "".join(
            f"define('{name}', '{secrets.token_hex(32)}');\n"
            for name in (
                "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
                "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT",
            )
        )  # fmt: skip
        return (
            "<?php\n"
            "define('DB_NAME', 'wordpress');\ndefine('DB_USER', 'root');\n"
            "define('DB_PASSWORD', '');\n"
            f"define('DB_HOST', 'localhost:{self.socket}');\n"
            "define('DB_CHARSET', 'utf8mb4');\ndefine('DB_COLLATE', '');\n"
            f"{keys}"
            "$table_prefix = 'wp_';\n"
            "define('WP_ENVIRONMENT_TYPE', 'local');\n"
            f"define('WP_HOME', '{self.url}');\ndefine('WP_SITEURL', '{self.url}');\n"
            "define('WP_CONTENT_DIR', __DIR__ . '/wp-content');\n"
            f"define('WP_CONTENT_URL', '{self.url}/wp-content');\n"
            "define('WP_DEFAULT_THEME', 'gladtest');\n"
            "define('DISABLE_WP_CRON', true);\ndefine('AUTOMATIC_UPDATER_DISABLED', true);\n"
            "define('WP_HTTP_BLOCK_EXTERNAL', true);\n"
            "if (!defined('ABSPATH')) { define('ABSPATH', __DIR__ . '/'); }\n"
            "require_once ABSPATH . 'wp-settings.php';\n"
        )

    def _start_php(self) -> None:
        log = (self.root / "php.log").open("wb")
        with log:
            self._php = subprocess.Popen(
                ["php", "-d", f"post_max_size={UPLOAD_LIMIT}",
                 "-d", f"upload_max_filesize={UPLOAD_LIMIT}",
                 "-S", f"127.0.0.1:{self.port}", "-t", str(self.docroot),
                 str(self.root / "router.php")],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.docroot,
                env={**os.environ, "PHP_CLI_SERVER_WORKERS": "4"},
                start_new_session=True,  # its workers are its group: stopped together
            )  # fmt: skip
        self._wait(lambda: _accepts_tcp(self.port), self._php, "php -S", "php.log")

    def _wait(self, ready: Any, process: subprocess.Popen[bytes], name: str, log: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                path = self.root / log
                tail = path.read_text(errors="replace")[-2000:] if path.exists() else ""
                raise RuntimeError(f"{name} did not start: {tail}")
            time.sleep(0.05)


@dataclass
class Gate:
    """A request the site holds until `release()`; `reached()` once it is held."""

    content: Path

    def reached(self) -> bool:
        return (self.content / "gate.reached").exists()

    def release(self) -> None:
        (self.content / "gate.json").unlink(missing_ok=True)
        (self.content / "gate.release").write_text("go")


def _accepts_unix(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _accepts_tcp(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True
