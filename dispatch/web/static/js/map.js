// The map: districts, stations and hospitals from the service's GeoJSON, drawn as vectors
// on a plain background (a centre's network may have no internet); basemap tiles only
// when the service names a tile URL. Leaflet is vendored (vendor/leaflet.js, global L).
import { gcj02ToWgs84, wgs84ToGcj02 } from "./coords.js";
import { api, session } from "./session.js";

const L = window.L;
const NANJING = [32.05, 118.8];

export class DispatchMap {
  constructor(el, { onClick } = {}) {
    const config = session()?.map || {};
    this.gcj = config.tile_url && config.tile_coord_system === "gcj02";
    this.map = L.map(el, { preferCanvas: true, zoomSnap: 0.5, keyboard: true })
      .setView(NANJING, 11);
    if (config.tile_url) {
      L.tileLayer(config.tile_url, { attribution: config.tile_attribution || "" })
        .addTo(this.map);
    }
    this.layers = {
      districts: L.layerGroup().addTo(this.map),
      coverage: L.layerGroup().addTo(this.map),
      stations: L.layerGroup().addTo(this.map),
      hospitals: L.layerGroup().addTo(this.map),
      vehicles: L.layerGroup().addTo(this.map),
      focus: L.layerGroup().addTo(this.map),
    };
    this.vehicles = new Map();
    if (onClick) {
      this.map.on("click", (e) => {
        // Where the pointer is: Leaflet gives a click on a small marker (a station or a
        // vehicle next to the caller) the marker's own position, not the point clicked.
        const at = e.originalEvent ? this.map.mouseEventToLatLng(e.originalEvent) : e.latlng;
        const [lon, lat] = this.fromMap(at);
        onClick({ lon, lat });
      });
    }
    // For the browser tests and for people with a console open: where a point is drawn.
    window.dispatchMap = this;
  }

  /** WGS-84 [lon, lat] -> the map's LatLng (shifted onto GCJ-02 tiles when they are on). */
  toMap(lon, lat) {
    const [x, y] = this.gcj ? wgs84ToGcj02(lon, lat) : [lon, lat];
    return L.latLng(y, x);
  }

  fromMap(latlng) {
    return this.gcj ? gcj02ToWgs84(latlng.lng, latlng.lat) : [latlng.lng, latlng.lat];
  }

  /** The pixel in the map's container where a WGS-84 point is drawn. */
  pixelOf(lon, lat) {
    const p = this.map.latLngToContainerPoint(this.toMap(lon, lat));
    return { x: p.x, y: p.y };
  }

  async loadReference({ hospitalsOnly = false } = {}) {
    const [districts, stations, hospitals] = await Promise.all([
      hospitalsOnly ? null : api("/v1/districts"),
      hospitalsOnly ? null : api("/v1/stations"),
      api("/v1/hospitals"),
    ]);
    if (districts) {
      const layer = L.geoJSON(districts, {
        coordsToLatLng: (c) => this.toMap(c[0], c[1]),
        style: { color: "#5b6b7f", weight: 1.5, fillColor: "#dfe6ee", fillOpacity: 0.35 },
        onEachFeature: (f, l) => l.bindTooltip(f.properties?.name || f.id || ""),
      });
      this.layers.districts.addLayer(layer);
      // at once: an animated first fit would end after, and undo, a view set meanwhile
      this.map.fitBounds(layer.getBounds(), { padding: [10, 10], animate: false });
    }
    for (const s of stations?.stations || []) {
      L.circleMarker(this.toMap(s.lon, s.lat), { radius: 4, color: "#1f4e79", weight: 1,
        fillColor: "#ffffff", fillOpacity: 1 }).bindTooltip(s.name).addTo(this.layers.stations);
    }
    this.hospitals = new Map();
    for (const h of hospitals.hospitals) {
      this.hospitals.set(h.id, h);
      L.marker(this.toMap(h.lon, h.lat), { icon: L.divIcon({ className: "map-hospital",
        html: "H", iconSize: [18, 18] }), keyboard: false, title: h.name })
        .addTo(this.layers.hospitals);
    }
    return { hospitals: this.hospitals };
  }

  /** The coverage cells (GET /v1/coverage?format=geojson): covered green, not covered red
   * with a dashed edge, so the difference does not rest on colour alone; null clears. */
  coverage(collection) {
    this.layers.coverage.clearLayers();
    if (!collection) return;
    this.layers.coverage.addLayer(L.geoJSON(collection, {
      coordsToLatLng: (c) => this.toMap(c[0], c[1]),
      style: (f) => f.properties.covered
        ? { color: "#2e7d32", weight: 0.5, fillColor: "#66bb6a", fillOpacity: 0.25 }
        : { color: "#b71c1c", weight: 1, dashArray: "3 3", fillColor: "#ef5350",
          fillOpacity: 0.35 },
      interactive: false,
    }));
  }

  /** Draw or move a vehicle; `colour` from its status, label its id. */
  vehicle(id, lon, lat, colour, title) {
    if (lon == null || lat == null) return;
    let marker = this.vehicles.get(id);
    const at = this.toMap(lon, lat);
    if (!marker) {
      marker = L.circleMarker(at, { radius: 6, weight: 2, color: "#111", fillOpacity: 0.95 })
        .addTo(this.layers.vehicles);
      marker.bindTooltip("", { direction: "top" });
      this.vehicles.set(id, marker);
    } else {
      marker.setLatLng(at);
    }
    marker.setStyle({ fillColor: colour });
    marker.setTooltipContent(title || id);
    marker.lonlat = [lon, lat];
  }

  /** Show one location with its accuracy circle (a call, or the crew's scene). */
  focus(lon, lat, radiusM, { pan = true } = {}) {
    this.layers.focus.clearLayers();
    if (lon == null) return;
    const at = this.toMap(lon, lat);
    if (radiusM) {
      L.circle(at, { radius: radiusM, color: "#c62828", weight: 2, fillOpacity: 0.12 })
        .addTo(this.layers.focus);
    }
    L.circleMarker(at, { radius: 5, color: "#c62828", fillColor: "#c62828", fillOpacity: 1 })
      .addTo(this.layers.focus);
    if (pan) this.map.panTo(at);
  }

  pin(lon, lat) {
    this.focus(lon, lat, null, { pan: false });
  }
}
