// page.js - the flame graph's renderer (oxprof).  Built into oxprofctl
// with page.html; it must never name an outside resource.
//
// The data (see client/flame.c) is a call tree in pre-order: for each node
// its name id, depth step and self samples.  Here it becomes typed arrays; a node's
// children are the nodes from i + 1 up to end[i], hopping sibling to
// sibling with c = end[c], so no child lists are built.  Drawing walks the
// tree from the zoomed node and skips every subtree narrower than MIN_W
// pixels, so a frame costs time only when it is visible.
(function () {
	'use strict';
	var ROW = 16;          // px per frame row
	var MIN_W = 0.3;       // frames narrower than this (css px) are not drawn
	var FONT = '12px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace';
	var MATCH_COLOR = '#c04fd8';
	var $ = function (id) { return document.getElementById(id); };
	var result = {};       // what the page did, for tests: #oxprof-result
	var violations = 0;
	document.addEventListener('securitypolicyviolation', function () {
		violations++;
		publish();
	});
	window.addEventListener('error', function (e) {
		result.error = String(e.message || e);
		publish();
	});

	function publish() {
		result.csp_violations = violations;
		$('oxprof-result').textContent = JSON.stringify(result);
	}

	// ---- the tree ----
	var t_start = performance.now();
	var data = JSON.parse($('oxprof-data').textContent);
	var t_parsed = performance.now();
	var names = data.names || [], mods = data.mods || [], nmod = data.nmod || [];
	// The tree as a string of numbers (client/flame.c, put_var): per node
	// its name id, how many levels it climbs from being a child of the node
	// before it, and its self samples.  Counted first, then decoded.
	var t = String(data.tree || ''), DIGIT = new Int8Array(128).fill(-1);
	var ALPHA = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
	for (var a = 0; a < 64; a++)
		DIGIT[ALPHA.charCodeAt(a)] = a;
	var ends = 0;
	for (var pos = 0, c; pos < t.length; pos++)
		if ((c = t.charCodeAt(pos)) < 128 && DIGIT[c] >= 0 && DIGIT[c] < 32)
			ends++;
	var n = Math.floor(ends / 3) + 1;
	var name = new Int32Array(n), depth = new Int32Array(n), self = new Float64Array(n);
	var total = new Float64Array(n), end = new Int32Array(n), parent = new Int32Array(n);
	var maxd = new Int32Array(n);
	name[0] = -1;
	// One pass, locals only: this loop runs for every character of a file
	// that may hold ten million frames.
	(function build() {
		var open = new Int32Array(n + 1), sp = 1, i = 1, k = 0, v = 0, mul = 1, up = 0, c, d, top, p;
		open[0] = 0;
		for (p = 0; p < t.length && i < n; p++) {
			c = t.charCodeAt(p);
			d = c < 128 ? DIGIT[c] : -1;
			if (d < 0)
				throw new Error('bad profile data at ' + p);
			if (d >= 32) {
				v += (d - 32) * mul;
				mul *= 32;
				continue;
			}
			v += d * mul;
			if (k === 0) {
				name[i] = v;
			} else if (k === 1) {
				up = v;
			} else {
				self[i] = v;
				// Close the frames this one is not inside of.
				for (; up > 0 && sp > 1; up--)
					end[open[--sp]] = i;
				top = open[sp - 1];
				parent[i] = top;
				depth[i] = depth[top] + 1;
				open[sp++] = i++;
			}
			k = k === 2 ? 0 : k + 1;
			v = 0;
			mul = 1;
		}
		while (sp)
			end[open[--sp]] = n;
		for (i = n - 1; i > 0; i--) {
			total[i] += self[i];
			total[parent[i]] += total[i];
			if (maxd[i] < depth[i])
				maxd[i] = depth[i];
			if (maxd[parent[i]] < maxd[i])
				maxd[parent[i]] = maxd[i];
		}
		total[0] += self[0];
	})();
	t = data.tree = null; // the typed arrays hold it now
	result.ms = { script_start: t_start, parse: t_parsed - t_start, build: performance.now() - t_parsed };

	function nameOf(v) { return v === 0 ? 'all' : String(names[name[v]]); }
	function moduleOf(v) {
		var m = v === 0 ? -1 : nmod[name[v]];
		return m >= 0 && m < mods.length ? String(mods[m]) : '';
	}
	function pct(part, whole) { return whole > 0 ? (100 * part / whole).toFixed(2) + '%' : '0%'; }

	// ---- state ----
	var canvas = $('canvas'), ctx = canvas.getContext('2d'), view = $('view');
	var zoom = 0, icicle = false, matched = null, W = 0, H = 0, charW = 7;
	var colors = [];       // css color per name id, made on first use
	var drawnLabels = null; // name ids drawn with a label (tests only)

	// Warm colours, fixed per name so a function looks the same everywhere.
	function colorOf(id) {
		var c = colors[id];
		if (c)
			return c;
		var s = id < 0 ? 'all' : String(names[id]), h = 2166136261;
		for (var i = 0; i < s.length && i < 256; i++)
			h = Math.imul(h ^ s.charCodeAt(i), 16777619);
		h >>>= 0;
		if (id < 0 || s === '[unknown]' || s === '[no frames]')
			c = 'rgb(200,200,205)';
		else
			c = 'rgb(' + (205 + (h & 31) + (h >> 5 & 15)) + ',' + (60 + (h >> 9 & 127) + (h >> 16 & 31)) +
				',' + (20 + (h >> 21 & 31)) + ')';
		colors[id] = c;
		return c;
	}

	function rowY(d) { return icicle ? d * ROW : H - (d + 1) * ROW; }

	function label(s, w) {
		var fit = Math.floor((w - 6) / charW);
		if (fit < 3)
			return '';
		if (s.length > fit)
			s = s.slice(0, fit - 2) + '..';
		// Wide characters break the fixed-width estimate: measure those.
		// Each round is shorter (length > 3), so the loop ends.
		if (/[^\x20-\x7e]/.test(s)) {
			while (s.length > 3 && ctx.measureText(s).width > w - 6)
				s = s.slice(0, Math.floor((s.length - 2) * 0.8)) + '..';
			if (ctx.measureText(s).width > w - 6)
				return '';
		}
		return s;
	}

	function box(v, x, w) {
		var y = rowY(depth[v]);
		ctx.fillStyle = matched && v > 0 && matched[name[v]] ? MATCH_COLOR : colorOf(name[v]);
		ctx.fillRect(x, y, w > 2 ? w - 1 : w, ROW - 1);
		if (w < 3 * charW + 6)
			return;
		var s = label(nameOf(v), w);
		if (!s)
			return;
		ctx.fillStyle = '#000';
		ctx.fillText(s, x + 3, y + ROW / 2);
		if (drawnLabels)
			drawnLabels[v === 0 ? 'all' : String(names[name[v]])] = 1;
	}

	function layout() {
		var dpr = window.devicePixelRatio || 1;
		W = Math.max(200, view.clientWidth - 24);
		H = (maxd[zoom] + 1) * ROW;
		canvas.style.width = W + 'px';
		canvas.style.height = H + 'px';
		canvas.width = Math.round(W * dpr);
		canvas.height = Math.round(H * dpr);
		ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
		ctx.font = FONT;
		ctx.textBaseline = 'middle';
		charW = ctx.measureText('MMMMMMMMMM').width / 10 || 7;
	}

	function draw() {
		layout();
		ctx.clearRect(0, 0, W, H);
		if (!(total[0] > 0)) {
			$('empty').hidden = false;
			return;
		}
		// The zoomed frame and its callers span the width.
		for (var a = zoom; ; a = parent[a]) {
			box(a, 0, W);
			if (a === 0)
				break;
		}
		var scale = W / total[zoom], stack = [zoom], xs = [0];
		while (stack.length) {
			var v = stack.pop(), x = xs.pop();
			for (var c = v + 1, e = end[v]; c < e; c = end[c]) {
				var w = total[c] * scale;
				if (w >= MIN_W) {
					box(c, x, w);
					if (end[c] > c + 1) {
						stack.push(c);
						xs.push(x);
					}
				}
				x += w;
			}
		}
	}

	// The frame under a point of the canvas (css px), or -1.
	function frameAt(px, py) {
		var d = icicle ? Math.floor(py / ROW) : Math.floor((H - py) / ROW);
		if (d < 0 || d > maxd[zoom] || px < 0 || px >= W)
			return -1;
		var v = zoom;
		if (d <= depth[zoom]) {
			while (depth[v] > d)
				v = parent[v];
			return v;
		}
		var scale = W / total[zoom], x = 0;
		while (depth[v] < d) {
			var found = -1;
			for (var c = v + 1, e = end[v]; c < e; c = end[c]) {
				var w = total[c] * scale;
				if (px >= x && px < x + w) {
					found = w >= MIN_W ? c : -1;
					break;
				}
				x += w;
			}
			if (found < 0)
				return -1;
			v = found;
		}
		return v;
	}

	// Where frame v is drawn now (css px in the canvas), or null.
	function rectOf(v) {
		var path = [], a;
		for (a = v; a !== zoom && a !== 0; a = parent[a])
			path.push(a);
		if (a !== zoom) // above the zoomed frame: a caller, full width
			return depth[v] <= depth[zoom] ? { x: 0, y: rowY(depth[v]), w: W } : null;
		var scale = W / total[zoom], x = 0, p = zoom;
		for (var i = path.length - 1; i >= 0; i--) {
			for (var s = p + 1; s !== path[i]; s = end[s])
				x += total[s] * scale;
			p = path[i];
		}
		return { x: x, y: rowY(depth[v]), w: v === zoom ? W : total[v] * scale };
	}

	function setZoom(v) {
		zoom = v;
		draw();
		var crumb = 'Click a frame to zoom in; hover for details.';
		if (v !== 0)
			crumb = 'Zoomed to ' + nameOf(v) + ': ' + pct(total[v], total[0]) + ' of all samples';
		$('crumb').textContent = crumb;
		$('crumb').title = crumb;
		result.zoom = v === 0 ? null : nameOf(v);
		result.zoom_samples = total[v];
		if (matched)
			showMatch();
		publish();
		if (!icicle)
			view.scrollTop = view.scrollHeight;
	}

	// ---- search ----
	function runSearch(q) {
		var input = $('search');
		input.classList.remove('bad');
		if (!q) {
			matched = null;
			$('match').textContent = '';
			result.search = null;
			draw();
			publish();
			return;
		}
		var test, re = null;
		try {
			re = new RegExp(q, 'i');
		} catch (err) {
			input.classList.add('bad'); // not a regex: plain text then
		}
		if (re) {
			test = function (s) { return re.test(s); };
		} else {
			var lq = q.toLowerCase();
			test = function (s) { return s.toLowerCase().indexOf(lq) >= 0; };
		}
		matched = new Uint8Array(names.length);
		for (var i = 0; i < names.length; i++)
			matched[i] = test(String(names[i])) ? 1 : 0;
		result.search = q;
		draw();
		showMatch();
		publish();
	}

	// Samples under matching frames, each counted once (a match inside a
	// match adds nothing), in the whole profile and under the zoomed frame.
	function matchedIn(root) {
		var sum = 0;
		for (var i = root + 1, e = end[root]; i < e;) {
			if (matched[name[i]]) {
				sum += total[i];
				i = end[i];
			} else {
				i++;
			}
		}
		return sum;
	}

	function showMatch() {
		var all = matchedIn(0), text = 'Matched: ' + pct(all, total[0]) + ' (' + all + ' of ' + total[0] +
			' samples)';
		if (zoom !== 0) {
			// Under a matching frame (the zoomed one or a caller) all match.
			var z = matchedIn(zoom);
			for (var a = zoom; a !== 0; a = parent[a])
				if (matched[name[a]])
					z = total[zoom];
			text += '; ' + pct(z, total[zoom]) + ' of the zoomed frame';
		}
		$('match').textContent = text;
		result.search_samples = all;
		result.search_pct = total[0] > 0 ? 100 * all / total[0] : 0;
	}

	// ---- tooltip ----
	var tip = $('tip');
	function showTip(v, cx, cy) {
		tip.textContent = '';
		var line = function (cls, k, val) {
			var div = document.createElement('div');
			if (cls)
				div.className = cls;
			if (k) {
				var span = document.createElement('span');
				span.className = 'k';
				span.textContent = k + ': ';
				div.appendChild(span);
			}
			div.appendChild(document.createTextNode(val));
			tip.appendChild(div);
		};
		var nm = nameOf(v);
		line('name', '', nm.length > 2000 ? nm.slice(0, 2000) + '...' : nm);
		var m = moduleOf(v);
		if (m)
			line('', 'module', m);
		line('', 'samples', total[v] + (self[v] ? ' (' + self[v] + ' in the frame itself)' : ''));
		line('', 'total', pct(total[v], total[0]));
		line('', 'self', pct(self[v], total[0]));
		if (zoom !== 0 && v !== zoom)
			line('', 'of the zoomed frame', pct(total[v], total[zoom]));
		tip.hidden = false;
		var r = tip.getBoundingClientRect();
		var x = cx + 14, y = cy + 14;
		if (x + r.width > window.innerWidth)
			x = Math.max(0, cx - r.width - 10);
		if (y + r.height > window.innerHeight)
			y = Math.max(0, cy - r.height - 10);
		tip.style.left = x + 'px';
		tip.style.top = y + 'px';
	}

	function eventFrame(e) {
		var r = canvas.getBoundingClientRect();
		return frameAt(e.clientX - r.left, e.clientY - r.top);
	}

	canvas.addEventListener('mousemove', function (e) {
		var v = eventFrame(e);
		if (v < 0)
			tip.hidden = true;
		else
			showTip(v, e.clientX, e.clientY);
	});
	canvas.addEventListener('mouseleave', function () { tip.hidden = true; });
	canvas.addEventListener('click', function (e) {
		var v = eventFrame(e);
		if (v >= 0 && v !== zoom)
			setZoom(v);
	});
	$('reset').addEventListener('click', function () { setZoom(0); });
	$('mode').addEventListener('click', function () { setMode(!icicle); });
	var pending = 0;
	$('search').addEventListener('input', function () {
		if (pending)
			cancelAnimationFrame(pending);
		pending = requestAnimationFrame(function () {
			pending = 0;
			runSearch($('search').value);
		});
	});
	document.addEventListener('keydown', function (e) {
		if (e.key === 'Escape') {
			setZoom(0);
		} else if (e.key === '/' && document.activeElement !== $('search')) {
			e.preventDefault();
			$('search').focus();
		}
	});
	var resizing = 0;
	window.addEventListener('resize', function () {
		if (!resizing)
			resizing = requestAnimationFrame(function () { resizing = 0; draw(); });
	});

	function setMode(ice) {
		icicle = ice;
		$('mode').textContent = icicle ? 'Flame graph' : 'Icicle';
		result.mode = icicle ? 'icicle' : 'flame';
		draw();
		publish();
	}

	// ---- header ----
	(function header() {
		var title = String(data.title || 'oxprof profile');
		document.title = title + ' - oxprof flame graph';
		$('title').textContent = title + ' ';
		var small = document.createElement('small');
		small.textContent = 'flame graph';
		$('title').appendChild(small);
		var ul = $('facts');
		(data.facts || []).forEach(function (f) {
			var li = document.createElement('li'), b = document.createElement('b');
			b.textContent = String(f[0]) + ': ';
			li.appendChild(b);
			li.appendChild(document.createTextNode(String(f[1])));
			ul.appendChild(li);
		});
	})();

	// ---- start, and the test hooks in the URL fragment ----
	// #zoom=NAME clicks the widest frame of that name, #search=RE searches,
	// #mode=icicle flips; #test also lists the labels drawn.  Results go to
	// #oxprof-result as JSON, where headless Chromium's --dump-dom shows them.
	var hash = {};
	location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
		var i = kv.indexOf('='), k = i < 0 ? kv : kv.slice(0, i);
		try {
			hash[k] = i < 0 ? '' : decodeURIComponent(kv.slice(i + 1));
		} catch (err) {
			hash[k] = kv.slice(i + 1);
		}
	});
	if ('test' in hash)
		drawnLabels = Object.create(null);
	result.frames = n - 1;
	result.names = names.length;
	result.total = total[0];
	var t_draw = performance.now();
	setMode(hash.mode === 'icicle');
	result.first_draw_ms = performance.now();
	result.ms.draw = result.first_draw_ms - t_draw;
	if (!icicle)
		view.scrollTop = view.scrollHeight;
	if (hash.zoom) {
		var best = -1;
		for (var i = 1; i < n; i++)
			if (names[name[i]] === hash.zoom && (best < 0 || total[i] > total[best]))
				best = i;
		var r = best >= 0 ? rectOf(best) : null;
		result.zoom_found = !!r;
		if (r) {
			// A real click, through the same hit test a mouse uses.
			var cr = canvas.getBoundingClientRect();
			canvas.dispatchEvent(new MouseEvent('click', { bubbles: true,
				clientX: cr.left + r.x + Math.min(r.w / 2, 5), clientY: cr.top + r.y + ROW / 2 }));
		}
	}
	if (hash.search) {
		$('search').value = hash.search;
		runSearch(hash.search);
	}
	if (hash.hover) { // for screenshots: the tooltip of the widest such frame
		var hv = -1;
		for (var j = 1; j < n; j++)
			if (names[name[j]] === hash.hover && (hv < 0 || total[j] > total[hv]))
				hv = j;
		var hr = hv >= 0 ? rectOf(hv) : null;
		if (hr) {
			var hc = canvas.getBoundingClientRect();
			canvas.dispatchEvent(new MouseEvent('mousemove', { bubbles: true,
				clientX: hc.left + hr.x + Math.min(hr.w / 2, 40), clientY: hc.top + hr.y + ROW / 2 }));
		}
	}
	if (drawnLabels) {
		drawnLabels = Object.create(null);
		draw();
		result.labels = Object.keys(drawnLabels);
	}
	result.ready = true;
	publish();
	document.body.setAttribute('data-first-draw-ms', result.first_draw_ms.toFixed(1));
})();
