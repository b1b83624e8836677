import { get } from "wasi:config/store@0.2.0-draft";

export async function fetchWeather(city) {
    try {
        // Access secret as environment variable
        const apiKey = await get("API_KEY");
        if (!apiKey) {
            return { tag: "err", val: "API_KEY not configured" };
        }
        
        const endpoint = await get("ENDPOINT_URL") || "https://api.weather.com/v1";
        
        const response = await fetch(
            `${endpoint}/weather?q=${city}&appid=${apiKey}`
        );
        
        const data = await response.json();
        return { tag: "ok", val: JSON.stringify(data) };
    } catch (error) {
        return { tag: "err", val: error.message };
    }
}
