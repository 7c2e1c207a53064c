import { afterEach, describe, expect, it } from "vitest";
import { setCsrfToken } from "./client";
import { uploadAttachment } from "./tasks";

/** Enough of XMLHttpRequest to see what the upload sends and to answer it. */
class FakeXhr {
  method = "";
  url = "";
  headers: Record<string, string> = {};
  body: FormData | null = null;
  status = 0;
  responseText = "";
  responseHeaders: Record<string, string> = {};
  upload: { onprogress: ((e: { lengthComputable: boolean; loaded: number; total: number }) => void) | null } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(k: string, v: string) {
    this.headers[k] = v;
  }
  getResponseHeader(k: string) {
    return this.responseHeaders[k.toLowerCase()] ?? null;
  }
  send(body: FormData) {
    this.body = body;
  }
  abort() {
    this.onabort?.();
  }
  answer(status: number, body: unknown, headers: Record<string, string> = {}) {
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.responseHeaders = headers;
    this.onload?.();
  }
}

afterEach(() => setCsrfToken(null));

describe("attachment upload", () => {
  it("posts the file as multipart part `file` with the CSRF header and reports progress", async () => {
    setCsrfToken("csrf-9");
    const xhr = new FakeXhr();
    const progress: number[] = [];
    const file = new File(["hello world"], "notes.txt", { type: "text/plain" });
    const handle = uploadAttachment(7, file, (p) => progress.push(Math.round((p.loaded / p.total) * 100)), () => xhr as unknown as XMLHttpRequest);
    expect(xhr.method).toBe("POST");
    expect(xhr.url).toBe("/api/v1/tasks/7/attachments");
    expect(xhr.headers["X-CSRF-Token"]).toBe("csrf-9");
    const sent = xhr.body?.get("file");
    expect(sent).toBeInstanceOf(File);
    expect((sent as File).name).toBe("notes.txt");
    xhr.upload.onprogress?.({ lengthComputable: true, loaded: 50, total: 200 });
    xhr.upload.onprogress?.({ lengthComputable: false, loaded: 0, total: 0 });
    const attachment = { id: 3, task_id: 7, filename: "notes.txt", content_type: "text/plain", size: 11, sha256: "ab", created_by: null, created_at: "2026-12-01T00:00:00Z" };
    xhr.answer(201, attachment);
    await expect(handle.done).resolves.toEqual(attachment);
    expect(progress).toEqual([25, 100]);
  });

  it("turns a refused upload into an ApiError with the problem's detail", async () => {
    const xhr = new FakeXhr();
    const handle = uploadAttachment(7, new File(["x"], "big.iso"), () => {}, () => xhr as unknown as XMLHttpRequest);
    expect(xhr.headers["X-CSRF-Token"]).toBeUndefined();
    xhr.answer(413, { status: 413, code: "payload_too_large", detail: "attachments are limited to 20 MiB" }, { "x-request-id": "r-1" });
    await expect(handle.done).rejects.toMatchObject({ status: 413, code: "payload_too_large", detail: "attachments are limited to 20 MiB", requestId: "r-1" });
  });

  it("says so when the connection fails or the user cancels", async () => {
    const xhr = new FakeXhr();
    const failed = uploadAttachment(1, new File(["x"], "a"), () => {}, () => xhr as unknown as XMLHttpRequest);
    xhr.onerror?.();
    await expect(failed.done).rejects.toMatchObject({ code: "network" });
    const xhr2 = new FakeXhr();
    const cancelled = uploadAttachment(1, new File(["x"], "a"), () => {}, () => xhr2 as unknown as XMLHttpRequest);
    cancelled.abort();
    await expect(cancelled.done).rejects.toMatchObject({ code: "aborted" });
  });
});
