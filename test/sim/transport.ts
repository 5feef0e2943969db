/** An Azure SDK HTTP client that sends through a fetch: the fake tenant's in-process one in the simulation. */
import { createHttpHeaders, type HttpClient } from "@azure/core-rest-pipeline";

export function httpClientOf(send: typeof fetch): HttpClient {
  return {
    async sendRequest(request) {
      if (request.body !== undefined && request.body !== null && typeof request.body !== "string") {
        throw new Error(`the in-process transport sends string bodies only (${request.method} ${request.url})`);
      }
      const response = await send(request.url, {
        method: request.method,
        headers: request.headers.toJSON(),
        ...(request.body ? { body: request.body } : {}),
        ...(request.abortSignal ? { signal: request.abortSignal as AbortSignal } : {}),
      });
      const headers = createHttpHeaders();
      response.headers.forEach((value, name) => headers.set(name, value));
      return { request, status: response.status, headers, bodyAsText: await response.text() };
    },
  };
}
