// Creates or updates the one moat plan comment of a pull request (found by a hidden marker),
// so that each push replaces the plan instead of adding a comment. Plain Node (>= 18, for
// fetch), no packages: it runs on any runner that has Node, and in the local action test.
"use strict";
const fs = require("fs");

const MARKER = "<!-- moat-plan -->";
// GitHub refuses comment bodies over 65 536 characters.
const LIMIT = 65536;

function need(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`comment.js: ${name} is not set`);
    process.exit(1);
  }
  return value;
}

async function main() {
  const api = (process.env.GITHUB_API_URL || "https://api.github.com").replace(/\/$/, "");
  const repo = need("GITHUB_REPOSITORY");
  const pr = need("PR_NUMBER");
  const token = need("GH_TOKEN");
  let body = `${MARKER}\n${fs.readFileSync(need("MARKDOWN_FILE"), "utf8")}`;
  if (body.length > LIMIT) {
    const note = "\n\n… plan truncated: the full plan is in the job summary.\n";
    body = body.slice(0, LIMIT - note.length) + note;
  }
  const headers = {
    authorization: `Bearer ${token}`,
    accept: "application/vnd.github+json",
    "content-type": "application/json",
    "x-github-api-version": "2022-11-28",
  };
  const call = async (method, path, payload) => {
    const response = await fetch(`${api}${path}`, {
      method,
      headers,
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });
    if (!response.ok) {
      throw new Error(`${method} ${path}: HTTP ${response.status} ${await response.text()}`);
    }
    return response.json();
  };
  let existing = null;
  for (let page = 1; existing === null; page++) {
    const comments = await call("GET", `/repos/${repo}/issues/${pr}/comments?per_page=100&page=${page}`);
    existing = comments.find((c) => typeof c.body === "string" && c.body.startsWith(MARKER)) || null;
    if (comments.length < 100) break;
  }
  if (existing) {
    await call("PATCH", `/repos/${repo}/issues/comments/${existing.id}`, { body });
    console.log(`updated the plan comment ${existing.html_url || existing.id}`);
  } else {
    const created = await call("POST", `/repos/${repo}/issues/${pr}/comments`, { body });
    console.log(`created the plan comment ${created.html_url || created.id}`);
  }
}

main().catch((e) => {
  console.error(`comment.js: ${e.message}`);
  process.exit(1);
});
