// Small SVG line charts: draw(svg, series) where series = [{ name, color, points: [[x, y], ...] }].
const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const el = (name, attrs, text) => {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const fmt = v => Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3);

  function draw(svg, series) {
    const width = svg.clientWidth || 300, height = svg.clientHeight || 160, pad = { l: 40, r: 8, t: 8, b: 18 };
    svg.replaceChildren();
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const points = series.flatMap(s => s.points).filter(p => Number.isFinite(p[1]));
    svg.dataset.points = String(points.length);
    if (points.length === 0) {
      svg.append(el("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "no data yet"));
      return;
    }
    let [x0, x1] = [Math.min(...points.map(p => p[0])), Math.max(...points.map(p => p[0]))];
    let [y0, y1] = [Math.min(...points.map(p => p[1])), Math.max(...points.map(p => p[1]))];
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
    const sx = x => pad.l + (x - x0) / (x1 - x0) * (width - pad.l - pad.r);
    const sy = y => height - pad.b - (y - y0) / (y1 - y0) * (height - pad.t - pad.b);
    svg.append(el("line", { class: "axis", x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b }));
    svg.append(el("line", { class: "axis", x1: pad.l, y1: pad.t, x2: pad.l, y2: height - pad.b }));
    svg.append(el("text", { x: pad.l - 4, y: sy(y1) + 4, "text-anchor": "end" }, fmt(y1)));
    svg.append(el("text", { x: pad.l - 4, y: sy(y0), "text-anchor": "end" }, fmt(y0)));
    svg.append(el("text", { x: pad.l, y: height - 4 }, series[0].xLabel ? series[0].xLabel(x0) : fmt(x0)));
    svg.append(el("text", { x: width - pad.r, y: height - 4, "text-anchor": "end" }, series[0].xLabel ? series[0].xLabel(x1) : fmt(x1)));
    series.forEach((s, i) => {
      const pts = s.points.filter(p => Number.isFinite(p[1]));
      if (pts.length === 0) return;
      svg.append(el("polyline", { class: "line", stroke: s.color, points: pts.map(p => `${sx(p[0])},${sy(p[1])}`).join(" ") }));
      for (const p of pts) svg.append(el("circle", { class: "dot", cx: sx(p[0]), cy: sy(p[1]), r: 3, fill: s.color }));
      svg.append(el("text", { x: width - pad.r, y: pad.t + 10 + 12 * i, "text-anchor": "end", fill: s.color }, s.name));
    });
  }
  return { draw };
})();
