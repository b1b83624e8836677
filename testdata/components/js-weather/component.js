// Two requests to one API per call, as upstream's get-weather-js makes them:
//   GET {ENDPOINT_URL}/geo/1.0/direct?q={city}&limit=1&appid={API_KEY}
//       -> [{"name", "country", "lat", "lon"}]
//   GET {ENDPOINT_URL}/data/2.5/weather?lat={lat}&lon={lon}&units=metric&appid={API_KEY}
//       -> {"main": {"temp"}, "weather": [{"description"}]}
// The key and the endpoint come from wasi:config/store; a failure is an err
// result whose text never holds the key.
import { get } from 'wasi:config/store@0.2.0-draft';

async function getJSON(url, what) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${what} request failed with HTTP status ${response.status}`);
  return response.json();
}

export async function getWeather(city) {
  const key = get('API_KEY');
  if (!key) throw 'API_KEY not configured';
  const endpoint = (get('ENDPOINT_URL') || 'https://api.openweathermap.org').replace(/\/+$/, '');
  const k = encodeURIComponent(key);
  try {
    const places = await getJSON(`${endpoint}/geo/1.0/direct?q=${encodeURIComponent(city)}&limit=1&appid=${k}`, 'geocoding');
    if (!Array.isArray(places) || places.length === 0) throw new Error(`no place named ${city}`);
    const { name, country, lat, lon } = places[0];
    const weather = await getJSON(`${endpoint}/data/2.5/weather?lat=${lat}&lon=${lon}&units=metric&appid=${k}`, 'weather');
    return JSON.stringify({
      city: name,
      country,
      lat,
      lon,
      temperature: weather.main?.temp,
      description: weather.weather?.[0]?.description ?? '',
    });
  } catch (e) {
    throw String(e?.message ?? e);
  }
}
