# The sandbox image plus the agents' CLIs, at pinned versions (bump them here; the image
# tag follows this file's hash). Node 22 comes from the official Node image (claude-code
# needs >= 22; Debian bookworm ships 18). Build with `python -m ptb.sandbox.image`.
ARG BASE
ARG NODE_IMAGE=node:22-bookworm-slim
FROM ${NODE_IMAGE} AS node
FROM ${BASE}
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && npm install -g --no-fund --no-audit \
       @anthropic-ai/claude-code@2.1.332 \
       @openai/codex@0.171.0 \
       @google/gemini-cli@0.61.0 \
       opencode-ai@1.18.33 \
    && npm cache clean --force \
    && claude --version && codex --version && gemini --version && opencode --version
