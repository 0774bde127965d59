FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY dispatch ./dispatch
RUN pip install --no-cache-dir . && useradd --system dispatch
USER dispatch
EXPOSE 8120
CMD ["uvicorn", "dispatch.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8120", "--proxy-headers"]
