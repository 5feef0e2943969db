#!/usr/bin/env bash
# Stages the deployment package in deploy/: the esbuild bundle (dist/index.js, no node_modules
# needed), host.json and a package.json whose "main" points at the bundle and that has no
# dependencies. azd deploys that folder as is (azure.yaml: project ./deploy, remoteBuild false);
# `func azure functionapp publish <app>` run inside deploy/ does the same by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run build --silent
rm -rf deploy/dist deploy/host.json deploy/package.json
mkdir -p deploy/dist
cp dist/index.js deploy/dist/
cp host.json deploy/
node -e '
const p = require("./package.json");
const out = { name: p.name, version: p.version, private: true, main: "dist/index.js", description: p.description, license: p.license };
require("fs").writeFileSync("deploy/package.json", JSON.stringify(out, null, 2) + "\n");
'
echo "Staged deploy/ ($(du -sk deploy | cut -f1) KB): dist/index.js, host.json, package.json"
