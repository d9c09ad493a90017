// The catalog page: search and dataset pages over the CKAN Action API (/api/3/action).
"use strict";
const TEXT = {
  ko: { title: "열린데이터 광장", home: "데이터셋", search: "검색", searchHint: "데이터셋 검색",
        found: n => `${n}건의 데이터셋`, resources: "리소스", preview: "미리보기", license: "이용허락",
        publisher: "제공기관", frequency: "갱신주기", keywords: "키워드", openapi: "OpenAPI 호출 예",
        download: "내려받기", other: "English", back: "← 목록" },
  en: { title: "Open Data Plaza", home: "Datasets", search: "Search", searchHint: "Search datasets",
        found: n => `${n} datasets`, resources: "Resources", preview: "Preview", license: "Licence",
        publisher: "Publisher", frequency: "Update frequency", keywords: "Keywords",
        openapi: "OpenAPI example", download: "Download", other: "한국어", back: "← Datasets" },
};
const FORMATS = ["csv", "json", "geojson", "xlsx", "parquet"];
const query = new URLSearchParams(location.search);
let lang = query.get("lang") || ((navigator.language || "ko").startsWith("en") ? "en" : "ko");
if (!TEXT[lang]) lang = "ko";
const t = key => TEXT[lang][key];
const $ = sel => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
};
const extra = (pkg, key) => (pkg.extras.find(e => e.key === key) || {}).value || "";
const titleOf = pkg => lang === "en" ? (extra(pkg, "title_en") || pkg.title) : pkg.title;
const notesOf = pkg => lang === "en" ? (extra(pkg, "notes_en") || pkg.notes) : pkg.notes;

async function action(name, params) {
  const response = await fetch(`/api/3/action/${name}?` + new URLSearchParams(params));
  const body = await response.json();
  if (!body.success) throw new Error(body.error.message || JSON.stringify(body.error));
  return body.result;
}

function translate() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-t]").forEach(n => { n.textContent = t(n.dataset.t); });
  document.querySelectorAll("[data-tp]").forEach(n => { n.placeholder = t(n.dataset.tp); });
  $("#lang").textContent = t("other");
  document.title = `smartseoul ${t("title")}`;
}

async function showList(q) {
  $("#list").hidden = false;
  $("#dataset").hidden = true;
  const found = await action("package_search", { q: q || "", rows: 100 });
  $("#count").textContent = t("found")(found.count);
  const results = $("#results");
  results.replaceChildren();
  for (const pkg of found.results) {
    const link = el("a", { href: `#/dataset/${pkg.name}`, class: "dataset-link" }, titleOf(pkg));
    results.append(el("div", { class: "card" }, el("h2", {}, link),
      el("div", { class: "meta" }, `${pkg.name} · ${pkg.organization.title} · ${pkg.license_id}`),
      el("p", {}, notesOf(pkg)),
      el("div", {}, ...pkg.tags.map(tag => el("span", { class: "tag" }, tag.name)))));
  }
}

async function showDataset(name) {
  $("#list").hidden = true;
  const box = $("#dataset");
  box.hidden = false;
  box.replaceChildren(el("p", {}, "…"));
  const pkg = await action("package_show", { id: name });
  const parts = [el("p", {}, el("a", { href: "#/" }, t("back"))),
    el("h2", { id: "dataset-title" }, titleOf(pkg)), el("p", {}, notesOf(pkg)),
    el("p", { class: "meta" }, `${t("publisher")}: ${pkg.author} · ${t("license")}: `,
      el("a", { href: pkg.license_url || "#" }, pkg.license_title),
      ` · ${t("frequency")}: ${extra(pkg, "frequency")} · ${t("keywords")}: ${pkg.tags.map(x => x.name).join(", ")}`),
    el("p", { class: "meta" }, `${t("openapi")}: `, el("code", {}, `${location.origin}/sample/json/${pkg.name}/1/5/`)),
    el("h3", {}, t("resources"))];
  for (const res of pkg.resources) {
    const name = lang === "en" ? (res.name_en || res.name) : res.name;
    const base = `/opendata/datasets/${pkg.name}/resources/${res.id}/download`;
    const links = FORMATS.map(f => el("a", { href: `${base}?format=${f}`, class: `download-${f}` }, f.toUpperCase()));
    links.push(el("a", { href: `${base}?format=csv&bom=1` }, "CSV (Excel)"));
    if (res.resource_type === "file.upload") links.unshift(el("a", { href: base, class: "download-file" }, res.format || "file"));
    const preview = el("div", { class: "preview", id: `preview-${res.id}` }, "…");
    parts.push(el("div", { class: "card" }, el("h2", {}, name),
      el("div", { class: "downloads" }, `${t("download")}: `, ...links), el("h4", {}, t("preview")), preview));
    action("datastore_search", { resource_id: res.id, limit: 10 }).then(result => {
      const head = el("tr", {}, ...result.fields.filter(f => f.id !== "_id").map(f => el("th", {}, f.id)));
      const rows = result.records.map(r => el("tr", {}, ...result.fields.filter(f => f.id !== "_id")
        .map(f => el("td", {}, typeof r[f.id] === "object" && r[f.id] !== null ? JSON.stringify(r[f.id]) : String(r[f.id] ?? "")))));
      preview.replaceChildren(el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
    }).catch(err => { preview.textContent = err.message; });
  }
  box.replaceChildren(...parts);
}

function route() {
  translate();
  const match = location.hash.match(/^#\/dataset\/(.+)$/);
  if (match) showDataset(decodeURIComponent(match[1]));
  else showList($("#q").value);
}

$("#search").addEventListener("submit", event => { event.preventDefault(); location.hash = "#/"; showList($("#q").value); });
$("#lang").addEventListener("click", () => { lang = lang === "ko" ? "en" : "ko"; route(); });
window.addEventListener("hashchange", route);
route();
