# How `sam build` builds the API function (infra/template.yaml, BuildMethod: makefile): with
# cargo-lambda, like the other functions, but with the size profile `lambda-size` (Cargo.toml).
build-ApiFunction:
	cargo lambda build --profile lambda-size --bin api
	cp target/lambda/api/bootstrap $(ARTIFACTS_DIR)/bootstrap
