/*
 * Runs a libFuzzer entry point over every file of a corpus directory, so
 * the corpus is replayed by `meson test` without libFuzzer. Exits non-zero
 * when the directory is missing or empty: a corpus that silently vanished
 * would otherwise make the test pass without testing anything.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional, as with libFuzzer: a target that needs setup defines it. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
		fclose(f);
		return -1;
	}
	size_t size = (size_t)st.st_size;
	/* An exact-size heap copy lets AddressSanitizer catch a read past the end. */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf || fread(buf, 1, size, f) != size) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, size);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	DIR *dir = opendir(argv[1]);
	if (!dir) {
		perror(argv[1]);
		return 1;
	}
	int count = 0, failed = 0;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char path[4096];
		int n = snprintf(path, sizeof path, "%s/%s", argv[1], de->d_name);
		if (n < 0 || (size_t)n >= sizeof path)
			continue;
		if (replay_file(path) != 0) {
			fprintf(stderr, "cannot read %s\n", path);
			failed = 1;
		}
		count++;
	}
	closedir(dir);
	printf("replayed %d inputs from %s\n", count, argv[1]);
	if (count == 0) {
		fprintf(stderr, "empty corpus: %s\n", argv[1]);
		return 1;
	}
	return failed;
}
