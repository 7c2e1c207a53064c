// A list the API returns whole (no cursor): data, error, loading and a reload.
// Answers to superseded requests are dropped.
import { useCallback, useEffect, useRef, useState } from "react";

export function useList<T>(fetch: (() => Promise<T[]>) | null) {
  const [items, setItems] = useState<T[] | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(fetch != null);
  const seq = useRef(0);
  const reload = useCallback(async () => {
    if (!fetch) return;
    const n = ++seq.current;
    setLoading(true);
    try {
      const data = await fetch();
      if (n !== seq.current) return;
      setItems(data);
      setError(null);
    } catch (e) {
      if (n !== seq.current) return;
      setError(e);
    } finally {
      if (n === seq.current) setLoading(false);
    }
  }, [fetch]);
  useEffect(() => {
    setItems(undefined);
    void reload();
  }, [reload]);
  return { items, error, loading, reload };
}
