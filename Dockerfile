FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY dispatch ./dispatch
RUN pip install --no-cache-dir . && useradd --system dispatch
USER dispatch
EXPOSE 8120
# `dispatch serve` passes the DISPATCH_* settings uvicorn needs (websocket compression)
CMD ["dispatch", "serve", "--host", "0.0.0.0", "--port", "8120"]
