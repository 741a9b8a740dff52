/* The few BLAS/LAPACK routines implicit-lammps calls, from Debian's OpenBLAS (which bundles LAPACK).
   Declared here (Fortran calling convention, column-major) so that no C header package is needed. */
#ifndef IMPLICIT_LAMMPS_CLAPACK_SHIM_H
#define IMPLICIT_LAMMPS_CLAPACK_SHIM_H

/* C = alpha * op(A) * op(B) + beta * C */
void dgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
            const double *alpha, const double *a, const int *lda, const double *b, const int *ldb,
            const double *beta, double *c, const int *ldc);

/* Symmetric indefinite solve A X = B (Bunch-Kaufman). */
void dsysv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda, int *ipiv,
            double *b, const int *ldb, double *work, const int *lwork, int *info);

/* Symmetric eigen-decomposition. */
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info);

/* Singular value decomposition (divide and conquer). */
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s,
             double *u, const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork,
             int *iwork, int *info);

/* Minimum-norm least squares min |A X - B| by a singular value decomposition (divide and conquer). */
void dgelsd_(const int *m, const int *n, const int *nrhs, double *a, const int *lda, double *b, const int *ldb,
             double *s, const double *rcond, int *rank, double *work, const int *lwork, int *iwork, int *info);

/* Cholesky factorization and solve of a symmetric positive definite band matrix. */
void dpbtrf_(const char *uplo, const int *n, const int *kd, double *ab, const int *ldab, int *info);
void dpbtrs_(const char *uplo, const int *n, const int *kd, const int *nrhs, const double *ab, const int *ldab,
             double *b, const int *ldb, int *info);

#endif
