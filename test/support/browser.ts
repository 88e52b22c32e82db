/**
 * Headless Chromium for the browser tests, brought by `npm install` itself.
 *
 * Why this helper: a fresh machine (a developer's, or CI's) has no system Chromium, and nothing may
 * download a browser at install or test time (only the npm registry and Debian's packages are
 * reachable, and `npm install && npm test` must pass on its own). The devDependency
 * @sparticuz/chromium ships a headless Chromium build for Linux x64 inside the package,
 * brotli-packed, with what it needs beyond glibc: NSS, NSPR and expat (al2023.tar.br), SwiftShader
 * (software GL, so the GPU process starts cleanly) and a font. This helper unpacks them once per
 * package version into node_modules/.cache and starts the binary through playwright-core with
 * LD_LIBRARY_PATH on the bundled libraries, so the browser needs nothing from the system but glibc
 * and libgcc (`ldd` and the processes' memory maps show nothing else).
 *
 * The package's own `executablePath()` is not used: it unpacks into a shared /tmp/chromium, which a
 * second run on the same machine could find half-written, and unpacks the libraries only on AWS
 * Lambda. Nor are its `args`: they are tuned for Lambda (one process, web security off), and the
 * console test must see the page's Content-Security-Policy enforced as in any browser.
 *
 * Elsewhere (macOS, Windows, Linux arm64) the package has no binary: set CHROMIUM_PATH to a
 * Chrome or Chromium executable.
 */
import { execFileSync } from "node:child_process";
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { brotliDecompressSync, createBrotliDecompress } from "node:zlib";
import { chromium, type BrowserContext } from "playwright-core";

const PACKAGE = "@sparticuz/chromium";

/** Offline (no background fetches: the machine's network is closed to them), quiet, runnable as root. */
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

type LaunchOptions = NonNullable<Parameters<typeof chromium.launchPersistentContext>[1]>;

interface Build {
  executablePath: string;
  env: Record<string, string>;
}

/** Extracts a brotli-packed tar archive of the package into `dir`. */
function untar(archive: string, dir: string): void {
  execFileSync("tar", ["-x", "--no-same-owner", "-f", "-", "-C", dir], { input: brotliDecompressSync(readFileSync(archive)) });
}

async function unpack(): Promise<Build> {
  if (process.platform !== "linux" || process.arch !== "x64") {
    throw new Error(
      `test/browser needs Chromium: ${PACKAGE} ships one for Linux x64 only, not ${process.platform} ${process.arch}. ` +
        "Install Google Chrome or Chromium and set CHROMIUM_PATH to its executable " +
        '(macOS: CHROMIUM_PATH="/Applications/Google Chrome.app/Contents/MacOS/Google Chrome").',
    );
  }
  const packageDir = join(dirname(createRequire(import.meta.url).resolve(PACKAGE)), "..");
  const { version } = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as { version: string };
  const bin = join(packageDir, "bin");
  const root = fileURLToPath(new URL(`../../node_modules/.cache/sparticuz-chromium-${version}`, import.meta.url));
  if (!existsSync(join(root, "chromium"))) {
    // Unpacked beside, then renamed into place: a concurrent run never sees a half-written binary.
    const partial = `${root}.partial-${process.pid}`;
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial, { recursive: true });
    await pipeline(createReadStream(join(bin, "chromium.br")), createBrotliDecompress(), createWriteStream(join(partial, "chromium"), { mode: 0o755 }));
    untar(join(bin, "swiftshader.tar.br"), partial); // libEGL, libGLESv2, Vulkan: beside the binary, where Chromium looks
    untar(join(bin, "al2023.tar.br"), partial); // lib/: libnss3, libnspr4, libexpat and their kin
    untar(join(bin, "fonts.tar.br"), partial); // fonts/Open_Sans; its fonts.conf (Lambda paths) is replaced below
    // The system's fonts where there are any (Debian's DejaVu, as before), the bundled one in any case.
    writeFileSync(
      join(partial, "fonts.conf"),
      `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n` +
        `  <include ignore_missing="yes">/etc/fonts/fonts.conf</include>\n` +
        `  <dir>${join(root, "fonts")}</dir>\n  <cachedir>${join(root, "fontconfig-cache")}</cachedir>\n</fontconfig>\n`,
    );
    try {
      renameSync(partial, root);
    } catch (error) {
      rmSync(partial, { recursive: true, force: true });
      if (!existsSync(join(root, "chromium"))) throw error; // else another run got there first
    }
  }
  const libraries = [join(root, "lib"), process.env.LD_LIBRARY_PATH].filter(Boolean).join(":");
  return { executablePath: join(root, "chromium"), env: { LD_LIBRARY_PATH: libraries, FONTCONFIG_FILE: join(root, "fonts.conf") } };
}

let build: Promise<Build> | undefined;

/** Headless Chromium with a persistent profile in `userDataDir` (the flags above; `options` adds the rest). */
export async function launchChromium(userDataDir: string, options: LaunchOptions = {}): Promise<BrowserContext> {
  const override = process.env.CHROMIUM_PATH;
  const { executablePath, env } = override ? { executablePath: override, env: {} } : await (build ??= unpack());
  return chromium.launchPersistentContext(userDataDir, {
    ...options,
    executablePath,
    headless: true,
    args: CHROMIUM_FLAGS,
    // Only the browser's own environment: the test process keeps its LD_LIBRARY_PATH.
    env: { ...process.env, ...env },
  });
}
