// Polygate usage console. Plain JavaScript, no dependencies: it talks only
// to the JSON API beside this page (relative URLs), draws its charts as
// inline SVG, and builds every cell with textContent, never HTML.
"use strict";

(function () {
	const SVG = "http://www.w3.org/2000/svg";
	const COLORS = ["#2f6fde", "#e07b39", "#2f9e5b", "#9b59b6", "#d4b106", "#17a2b8", "#c63b3b", "#7f8c8d", "#b0b7c3"];
	const $ = (id) => document.getElementById(id);

	const state = {
		database: "",
		fixedDatabase: false,
		refreshMs: 5000,
		timer: null,
		inflight: false,
		plans: [],
		defaultPlan: "",
		armed: new Map(),
		keyNames: new Map(),
	};

	// ---- formatting ----

	const intFmt = new Intl.NumberFormat("en-US");
	function fmtInt(n) { return intFmt.format(n || 0); }
	function fmtUSD(v) {
		v = v || 0;
		if (v === 0) return "$0";
		if (Math.abs(v) < 0.01) return "$" + v.toFixed(6);
		if (Math.abs(v) < 100) return "$" + v.toFixed(4);
		return "$" + v.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
	}
	function fmtCompact(n) {
		n = n || 0;
		const a = Math.abs(n);
		if (a >= 1e9) return (n / 1e9).toFixed(1).replace(/\.0$/, "") + "G";
		if (a >= 1e6) return (n / 1e6).toFixed(1).replace(/\.0$/, "") + "M";
		if (a >= 1e3) return (n / 1e3).toFixed(1).replace(/\.0$/, "") + "k";
		if (a > 0 && a < 1) return n.toPrecision(2);
		return String(Math.round(n * 100) / 100);
	}
	// fmtAxis writes a tick value with two significant digits at most.
	function fmtAxis(n) {
		if (n === 0) return "0";
		if (Math.abs(n) >= 1000) return fmtCompact(n);
		return String(Number(n.toPrecision(2)));
	}
	function fmtPct(r) { return (100 * (r || 0)).toFixed(1) + "%"; }
	function fmtMs(ms) {
		ms = ms || 0;
		return ms >= 1000 ? (ms / 1000).toFixed(2) + " s" : Math.round(ms) + " ms";
	}
	function fmtTime(iso) {
		if (!iso) return "";
		return iso.replace("T", " ").replace(/(\.\d+)?Z$/, "");
	}
	function fmtDate(iso) { return iso ? iso.slice(0, 10) : ""; }

	// ---- DOM helpers ----

	function el(tag, attrs, ...children) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === undefined || v === null || v === false) continue;
			if (k === "class") e.className = v;
			else if (k === "text") e.textContent = v;
			else e.setAttribute(k, v);
		}
		for (const c of children) {
			if (c === null || c === undefined) continue;
			e.append(c instanceof Node ? c : document.createTextNode(String(c)));
		}
		return e;
	}
	function svg(tag, attrs, text) {
		const e = document.createElementNS(SVG, tag);
		for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
		if (text !== undefined) e.textContent = text;
		return e;
	}
	function td(text, cls) { return el("td", { class: cls, text: text }); }
	function setOutput(id, value, text, sub) {
		const o = $(id);
		o.dataset.value = String(value);
		o.replaceChildren(text);
		if (sub) o.append(" ", el("small", { text: sub }));
	}

	// ---- API ----

	function apiURL(path, params) {
		const u = new URL("api/" + path, document.baseURI);
		for (const [k, v] of Object.entries(params || {})) {
			if (v !== "" && v !== undefined && v !== null) u.searchParams.set(k, v);
		}
		if (state.database && !state.fixedDatabase) u.searchParams.set("database", state.database);
		return u.pathname + u.search;
	}

	async function api(method, path, params, body) {
		const opts = { method, headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" };
		if (method !== "GET") opts.headers["X-Polygate-Console"] = "1";
		if (body !== undefined) {
			opts.headers["Content-Type"] = "application/json";
			opts.body = JSON.stringify(body);
		}
		const resp = await fetch(apiURL(path, params), opts);
		let data = null;
		try { data = await resp.json(); } catch (e) { /* not JSON */ }
		if (!resp.ok) {
			const msg = (data && data.error) || (resp.status + " " + resp.statusText);
			const err = new Error(msg);
			err.status = resp.status;
			throw err;
		}
		return data;
	}

	function showError(msg) {
		const e = $("error");
		if (msg) {
			e.textContent = msg;
			e.hidden = false;
		} else {
			e.hidden = true;
			e.textContent = "";
		}
	}

	// ---- controls ----

	function controls() {
		return {
			range: $("range").value,
			bucket: $("bucket").value,
			group_by: $("group_by").value,
		};
	}

	function restoreControls() {
		const h = new URLSearchParams(location.hash.slice(1));
		for (const id of ["range", "bucket", "group_by"]) {
			const v = h.get(id);
			if (v !== null && [...$(id).options].some((o) => o.value === v)) $(id).value = v;
		}
		if (h.get("database")) state.database = h.get("database");
	}

	function saveControls() {
		const h = new URLSearchParams(controls());
		if (state.database && !state.fixedDatabase) h.set("database", state.database);
		history.replaceState(null, "", "#" + h.toString());
	}

	function rangeHours(r) {
		const n = parseInt(r, 10);
		return r.endsWith("d") ? n * 24 : n;
	}

	// The hourly chart holds at most 400 buckets: beyond 14 days it is daily.
	function updateBucketChoices() {
		const hourOK = rangeHours($("range").value) <= 14 * 24;
		const hour = [...$("bucket").options].find((o) => o.value === "hour");
		hour.disabled = !hourOK;
		if (!hourOK && $("bucket").value === "hour") $("bucket").value = "day";
	}

	// ---- charts ----

	function groupLabel(g, groupBy) {
		if (g.other) return "other";
		if (groupBy === "none" || groupBy === "") return "all requests";
		if (groupBy === "key") return g.group ? (g.name ? g.name + " (" + g.group + ")" : g.group) : "(no key)";
		return g.group || "(none)";
	}

	// niceStep rounds a tick step up to 1, 2, 2.5 or 5 times a power of ten.
	function niceStep(v) {
		if (!(v > 0)) return 0.25;
		const p = Math.pow(10, Math.floor(Math.log10(v)));
		for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v * (1 - 1e-9)) return m * p;
		return 10 * p;
	}

	function bucketLabel(iso, bucket, multiDay) {
		if (bucket === "day") return iso.slice(5, 10);
		const hh = iso.slice(11, 13) + ":00";
		return multiDay ? iso.slice(5, 10) + " " + hh : hh;
	}

	// drawChart draws stacked bars: one bar per bucket, one segment per group.
	function drawChart(container, series, metric, fmt, errorsOutline) {
		const W = 640, H = 220, L = 64, R = 12, T = 10, B = 28;
		const n = series.buckets.length;
		const values = series.groups.map((g) => metric(g));
		const totals = new Array(n).fill(0);
		for (const vs of values) vs.forEach((v, i) => { totals[i] += v; });
		const grand = totals.reduce((a, b) => a + b, 0);
		const step = niceStep(Math.max(0, ...totals) / 4);
		const max = 4 * step;
		const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "data-total": String(grand), "data-buckets": String(n) });
		s.append(svg("title", {}, container.previousElementSibling ? container.previousElementSibling.textContent : "chart"));
		const plotW = W - L - R, plotH = H - T - B;
		for (let i = 0; i <= 4; i++) {
			const y = T + plotH - (plotH * i) / 4;
			s.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: y, y2: y }));
			s.append(svg("text", { x: L - 6, y: y + 4, "text-anchor": "end" }, fmt(Number((step * i).toPrecision(12)))));
		}
		const slot = plotW / Math.max(n, 1);
		const bw = Math.max(1, slot * 0.8);
		const multiDay = series.bucket === "hour" && n > 24;
		const labelEvery = Math.max(1, Math.ceil(n / 8));
		const labels = [];
		for (let i = 0; i < n; i++) {
			const x = L + i * slot + (slot - bw) / 2;
			let y0 = T + plotH;
			values.forEach((vs, gi) => {
				const v = vs[i];
				if (!v) return;
				const h = (plotH * v) / max;
				y0 -= h;
				const r = svg("rect", {
					x: x.toFixed(2), y: y0.toFixed(2), width: bw.toFixed(2), height: Math.max(h, 0.5).toFixed(2),
					fill: COLORS[gi % COLORS.length], "data-group": groupLabel(series.groups[gi], series.group_by),
					"data-bucket": series.buckets[i], "data-value": String(v),
				});
				r.append(svg("title", {}, `${fmtTime(series.buckets[i])} · ${groupLabel(series.groups[gi], series.group_by)}: ${fmt(v)}`));
				s.append(r);
			});
			if (errorsOutline) {
				const errs = series.groups.reduce((a, g) => a + g.errors[i], 0);
				if (errs > 0) {
					const h = (plotH * errs) / max;
					const r = svg("rect", { class: "err", x: x.toFixed(2), y: (T + plotH - h).toFixed(2), width: bw.toFixed(2), height: h.toFixed(2), "data-errors": String(errs) });
					r.append(svg("title", {}, `${fmtTime(series.buckets[i])} · errors: ${errs}`));
					s.append(r);
				}
			}
			if (i % labelEvery === 0) labels.push([L + i * slot + slot / 2, bucketLabel(series.buckets[i], series.bucket, multiDay)]);
		}
		// Bucket labels, newest first so that it is always shown, kept
		// inside the chart and apart from each other.
		if (n > 0 && (n - 1) % labelEvery !== 0) labels.push([L + (n - 1) * slot + slot / 2, bucketLabel(series.buckets[n - 1], series.bucket, multiDay)]);
		let left = Infinity;
		for (const [cx, text] of labels.reverse()) {
			const w = text.length * 6.2;
			const x = Math.min(Math.max(cx, L + w / 2), W - R - w / 2);
			if (x + w / 2 > left - 8) continue;
			left = x - w / 2;
			s.append(svg("text", { x: x.toFixed(2), y: H - 8, "text-anchor": "middle" }, text));
		}
		if (grand === 0) {
			s.append(svg("text", { class: "empty", x: L + plotW / 2, y: T + plotH / 2, "text-anchor": "middle" }, "no requests in this range"));
		}
		container.replaceChildren(s);
	}

	function drawLegend(series) {
		const lg = $("legend");
		lg.replaceChildren();
		if (series.groups.length <= 1 && !series.group_by) return;
		series.groups.forEach((g, i) => {
			const s = el("span", { text: groupLabel(g, series.group_by) });
			s.style.setProperty("--swatch", COLORS[i % COLORS.length]);
			lg.append(s);
		});
	}

	function renderSeries(series) {
		drawChart($("chart-cost"), series, (g) => g.cost_usd, (v) => "$" + fmtAxis(v), false);
		drawChart($("chart-requests"), series, (g) => g.requests, fmtAxis, true);
		drawChart($("chart-tokens"), series, (g) => g.input_tokens.map((v, i) => v + g.output_tokens[i]), fmtAxis, false);
		drawLegend(series);
	}

	// ---- summary ----

	function renderSummary(sum) {
		const t = sum.totals;
		setOutput("kpi-cost", t.cost_usd, fmtUSD(t.cost_usd));
		setOutput("kpi-requests", t.requests, fmtInt(t.requests), t.errors ? fmtInt(t.errors) + " errors" : "");
		setOutput("kpi-tokens", t.input_tokens + t.output_tokens, fmtCompact(t.input_tokens) + " / " + fmtCompact(t.output_tokens),
			t.cached_tokens ? fmtCompact(t.cached_tokens) + " cached" : "");
		setOutput("kpi-errors", sum.error_rate, fmtPct(sum.error_rate), t.server_errors ? fmtInt(t.server_errors) + " 5xx" : "");
		setOutput("kpi-cache", sum.cache_hit_rate, fmtPct(sum.cache_hit_rate), fmtInt(t.cache_hits));
		setOutput("kpi-guardrails", sum.guardrail_rate, fmtPct(sum.guardrail_rate), t.guardrail_blocks ? fmtInt(t.guardrail_blocks) + " blocked" : "");
		setOutput("kpi-latency", t.avg_latency_ms, fmtMs(t.avg_latency_ms), t.avg_ttft_ms ? fmtMs(t.avg_ttft_ms) : "");
		const w = $("writer");
		const pending = sum.writer.buffered;
		w.hidden = pending === 0 && sum.writer.ready;
		w.textContent = !sum.writer.ready ? "The usage database is not ready yet (migrating or unreachable): totals may be missing." :
			fmtInt(pending) + " record(s) of this instance are still buffered and not yet in these totals.";
		for (const g of ["caller", "key", "model", "provider", "endpoint"]) renderTop(g, sum.top[g] || [], sum.groups[g] || 0, t);
	}

	function renderTop(groupBy, rows, count, totals) {
		const table = $("top-" + groupBy);
		const head = el("thead", {}, el("tr", {},
			el("th", { text: groupBy }), el("th", { class: "num", text: "Requests" }),
			el("th", { class: "num", text: "Tokens" }), el("th", { class: "num", text: "Spend" })));
		const body = el("tbody");
		const byCost = totals.cost_usd > 0;
		for (const r of rows) {
			let label = groupBy === "key" ? (r.group ? (r.name || r.group) : "(no key)") : (r.group || "(none)");
			let title = groupBy === "key" && r.group ? r.group : null;
			if (groupBy === "caller" && r.group.startsWith("key:") && state.keyNames.has(r.group.slice(4))) {
				label = "key " + state.keyNames.get(r.group.slice(4));
				title = r.group;
			}
			const share = byCost ? r.cost_usd / totals.cost_usd : (totals.requests ? r.requests / totals.requests : 0);
			const bar = el("span", { class: "share" });
			bar.style.width = (100 * share).toFixed(1) + "%";
			const name = el("td", { class: "group", title: title }, label, bar);
			body.append(el("tr", { "data-group": r.group }, name,
				td(fmtInt(r.requests), "num"), td(fmtCompact(r.input_tokens + r.output_tokens), "num"), td(fmtUSD(r.cost_usd), "num")));
		}
		if (rows.length === 0) body.append(el("tr", {}, el("td", { colspan: 4, class: "note", text: "no requests" })));
		if (count > rows.length) body.append(el("tr", {}, el("td", { colspan: 4, class: "note", text: `and ${count - rows.length} more` })));
		table.replaceChildren(head, body);
	}

	// ---- recent ----

	function renderRecent(data) {
		const body = $("recent").tBodies[0];
		const rows = data.requests.map((r) => {
			const ok = r.status > 0 && r.status < 400;
			const guard = el("td");
			for (const v of r.guardrails || []) {
				guard.append(el("span", { class: "pill " + v.action, title: v.location || null, text: `${v.guardrail}: ${v.action} ${v.category} (${v.stage})` }));
			}
			if (r.guardrails_text) guard.append(el("span", { class: "pill", text: r.guardrails_text }));
			return el("tr", { "data-request-id": r.request_id },
				td(fmtTime(r.time), "mono"),
				td(r.caller, "caller"),
				td(r.key_name || r.key_id || "", "group"),
				td(r.model, "group"),
				td(r.provider + (r.upstream_model && r.upstream_model !== r.model ? " · " + r.upstream_model : ""), "group"),
				td((r.endpoint || "") + (r.origin ? " (" + r.origin + ")" : ""), "group"),
				td(r.status ? String(r.status) : "–", ok ? "status-ok" : "status-err"),
				td(fmtMs(r.latency_ms), "num"),
				td(r.ttft_ms ? fmtMs(r.ttft_ms) : "–", "num"),
				td(String(r.attempts || 0), "num"),
				td(r.cache_hit ? "hit" : ""),
				td(r.streamed ? "yes" : ""),
				td(fmtInt(r.input_tokens) + " / " + fmtInt(r.output_tokens), "num"),
				td(fmtUSD(r.cost_usd), "num"),
				guard);
		});
		if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 15, class: "note", text: "no requests in this range" })));
		body.replaceChildren(...rows);
	}

	// ---- keys ----

	function budgetBar(b) {
		const frac = b.limit_usd > 0 ? b.spent_usd / b.limit_usd : 0;
		const label = b.kind === "key" ? "key, monthly" : (b.kind === "plan_month" ? `plan ${b.plan}, monthly` : `plan ${b.plan}, daily`);
		const fill = el("div", { class: "fill" });
		fill.style.width = Math.min(100, 100 * frac).toFixed(1) + "%";
		return el("div", { class: "budget" + (frac >= 1 ? " over" : frac >= 0.8 ? " high" : ""), "data-kind": b.kind, "data-spent": String(b.spent_usd), "data-limit": String(b.limit_usd) },
			el("div", { text: `${label}: ${fmtUSD(b.spent_usd)} of ${fmtUSD(b.limit_usd)} (${fmtPct(frac)})` }),
			el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(b.limit_usd), "aria-valuenow": String(b.spent_usd) }, fill));
	}

	function renderKeys(data) {
		state.plans = data.plans;
		state.defaultPlan = data.default_plan;
		state.keyNames = new Map(data.keys.map((k) => [k.id, k.name]));
		const note = $("auth-note");
		note.hidden = data.auth_mode === "keys";
		note.textContent = `The gateway's auth mode is "${data.auth_mode}": these keys are only checked in "keys" mode.`;
		const sel = $("new-plan");
		const cur = sel.value;
		const opts = [el("option", { value: "", text: data.default_plan ? `default (${data.default_plan})` : "default" })];
		for (const p of data.plans) opts.push(el("option", { value: p.name, text: p.name }));
		sel.replaceChildren(...opts);
		if ([...sel.options].some((o) => o.value === cur)) sel.value = cur;

		const body = $("keys").tBodies[0];
		const focused = document.activeElement && body.contains(document.activeElement) ? document.activeElement : null;
		if (focused && focused.tagName === "INPUT") return; // do not wipe what the operator is typing
		const rows = data.keys.map((k) => {
			const budgets = el("td");
			for (const b of k.budgets) budgets.append(budgetBar(b));
			if (k.budgets.length === 0) budgets.append(el("span", { class: "note", text: "none" }));
			const actions = el("td", { class: "actions" });
			if (k.status !== "revoked") {
				const input = el("input", { type: "number", min: "0", step: "0.01", "aria-label": "monthly budget in USD", placeholder: "USD", value: k.budget_usd ? String(k.budget_usd) : "" });
				const set = el("button", { type: "button", class: "set-budget", text: "Set budget" });
				set.addEventListener("click", () => setBudget(k.id, input.value));
				// Two clicks revoke: the first arms the button for a few seconds
				// (kept across refreshes), the second confirms.
				const armed = state.armed.has(k.id);
				const revoke = el("button", { type: "button", class: "danger revoke" + (armed ? " armed" : ""), text: armed ? "Confirm revoke" : "Revoke" });
				revoke.addEventListener("click", () => {
					if (!state.armed.has(k.id)) {
						state.armed.set(k.id, setTimeout(() => {
							state.armed.delete(k.id);
							revoke.classList.remove("armed");
							revoke.textContent = "Revoke";
						}, 6000));
						revoke.classList.add("armed");
						revoke.textContent = "Confirm revoke";
						return;
					}
					clearTimeout(state.armed.get(k.id));
					state.armed.delete(k.id);
					revokeKey(k.id);
				});
				actions.append(input, set, revoke);
			}
			return el("tr", { "data-key-id": k.id, "data-status": k.status, class: k.status },
				td(k.name, "group"), td(k.id, "mono"), td(k.hint, "mono"), td(k.plan || (data.default_plan ? `(${data.default_plan})` : "")),
				td(k.status), td(fmtDate(k.created_at)), td(k.expires_at ? fmtDate(k.expires_at) : "never"),
				td(fmtUSD(k.spent_day_usd), "num"), td(fmtUSD(k.spent_month_usd), "num"), budgets, actions);
		});
		if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: 11, class: "note", text: "no keys yet" })));
		body.replaceChildren(...rows);
	}

	async function createKey(ev) {
		ev.preventDefault();
		const body = { name: $("new-name").value.trim() };
		if ($("new-plan").value) body.plan = $("new-plan").value;
		if ($("new-budget").value) body.budget_usd = Number($("new-budget").value);
		if ($("new-expires").value) body.expires_at = $("new-expires").value;
		$("create-button").disabled = true;
		try {
			const k = await api("POST", "keys", {}, body);
			$("new-key-name").textContent = k.name;
			$("new-key-value").textContent = k.key;
			$("new-key").hidden = false;
			$("create-key").reset();
			showError("");
			await refreshKeys();
		} catch (e) {
			showError("Creating the key: " + e.message);
		} finally {
			$("create-button").disabled = false;
		}
	}

	function dismissKey() {
		$("new-key-value").textContent = "";
		$("new-key-name").textContent = "";
		$("new-key").hidden = true;
	}

	async function copyKey() {
		const v = $("new-key-value").textContent;
		try {
			await navigator.clipboard.writeText(v);
			$("copy-key").textContent = "Copied";
		} catch (e) {
			// No clipboard outside secure contexts: select it for Ctrl+C.
			const r = document.createRange();
			r.selectNodeContents($("new-key-value"));
			const s = getSelection();
			s.removeAllRanges();
			s.addRange(r);
			$("copy-key").textContent = "Selected: press Ctrl+C";
		}
	}

	async function revokeKey(id) {
		try {
			await api("DELETE", "keys/" + encodeURIComponent(id));
			showError("");
			await refreshKeys();
		} catch (e) {
			showError("Revoking the key: " + e.message);
		}
	}

	async function setBudget(id, value) {
		const v = value.trim() === "" ? 0 : Number(value);
		if (!(v >= 0)) {
			showError("The budget must be a number of at least 0.");
			return;
		}
		try {
			if (document.activeElement) document.activeElement.blur();
			await api("PATCH", "keys/" + encodeURIComponent(id), {}, { budget_usd: v });
			showError("");
			await refreshKeys();
		} catch (e) {
			showError("Setting the budget: " + e.message);
		}
	}

	async function refreshKeys() {
		renderKeys(await api("GET", "keys"));
	}

	// ---- databases ----

	async function loadDatabases() {
		const d = await api("GET", "databases");
		state.refreshMs = d.refresh_ms || state.refreshMs;
		state.fixedDatabase = !!d.database;
		const picker = $("database-picker");
		if (state.fixedDatabase || d.databases.length <= 1) {
			picker.hidden = true;
			if (!state.fixedDatabase) state.database = "";
			return;
		}
		const sel = $("database");
		sel.replaceChildren(...d.databases.map((n) => el("option", { value: n, text: n })));
		if (!d.databases.includes(state.database)) state.database = d.databases[0];
		sel.value = state.database;
		picker.hidden = false;
	}

	// ---- polling ----

	async function refresh() {
		if (state.inflight) return;
		state.inflight = true;
		const c = controls();
		const rangeParams = { range: c.range };
		try {
			const [sum, series, recent, keys] = await Promise.all([
				api("GET", "summary", rangeParams),
				api("GET", "series", { range: c.range, bucket: c.bucket, group_by: c.group_by }),
				api("GET", "recent", { range: c.range, limit: 50 }),
				api("GET", "keys"),
			]);
			state.refreshMs = sum.refresh_ms || state.refreshMs;
			renderKeys(keys);
			renderSummary(sum);
			renderSeries(series);
			renderRecent(recent);
			showError("");
			$("status").textContent = `${sum.database} · updated ${new Date().toISOString().slice(11, 19)} UTC · every ${Math.round(state.refreshMs / 1000)}s`;
			document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
		} catch (e) {
			showError(e.message);
			$("status").textContent = "update failed at " + new Date().toISOString().slice(11, 19) + " UTC";
		} finally {
			state.inflight = false;
		}
	}

	function schedule() {
		clearTimeout(state.timer);
		state.timer = setTimeout(async () => {
			if (!document.hidden) await refresh();
			schedule();
		}, state.refreshMs);
	}

	function onControlsChange() {
		updateBucketChoices();
		saveControls();
		refresh();
	}

	async function start() {
		restoreControls();
		updateBucketChoices();
		for (const id of ["range", "bucket", "group_by"]) $(id).addEventListener("change", onControlsChange);
		$("database").addEventListener("change", () => { state.database = $("database").value; onControlsChange(); });
		$("controls").addEventListener("submit", (e) => e.preventDefault());
		$("create-key").addEventListener("submit", createKey);
		$("dismiss-key").addEventListener("click", dismissKey);
		$("copy-key").addEventListener("click", copyKey);
		document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
		try {
			await loadDatabases();
		} catch (e) {
			showError(e.message);
		}
		await refresh();
		schedule();
	}

	start();
})();
