FROM python:3.11-slim
WORKDIR /app
# the pinned, hashed dependency set (requirements.lock, from pyproject.toml by pip-compile),
# then the package alone: the same versions on every build
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY dispatch ./dispatch
RUN pip install --no-cache-dir --no-deps . && useradd --system dispatch
USER dispatch
EXPOSE 8120
# `dispatch serve` passes the DISPATCH_* settings uvicorn needs (websocket compression)
CMD ["dispatch", "serve", "--host", "0.0.0.0", "--port", "8120"]
