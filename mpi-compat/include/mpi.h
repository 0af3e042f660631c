/* mpi.h - the MPI-3.1 interface of libmrpc_mpi (mpi-compat): MPI programs over the managed service.
 *
 * A C program written for Open MPI or MPICH compiles against this header unchanged, as long as it
 * keeps to the subset below (docs/mpi.md lists it); built with mrpc-mpicc and started by mrpc-run,
 * its ranks are apps of their nodes' Phoenix services, so every message is an mRPC call that the
 * administrator's policies see. A function outside the subset is not declared here: using one
 * fails to compile (or, with implicit declarations allowed, to link) with its name in the message.
 *
 * Handles are pointers to incomplete structs, and the predefined ones the addresses of objects the
 * library defines (as Open MPI does), so passing a communicator where a datatype is wanted is a
 * compile error. The _NULL handles are null pointers. Error classes are numbered as MPICH numbers
 * them, and a function's return code is its error class. */
#ifndef MPI_H_INCLUDED
#define MPI_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- versions ----------------------------------------------------------------------------- */

#define MPI_VERSION    3
#define MPI_SUBVERSION 1
#define MRPC_MPI       1                   /* this implementation, for #ifdef in portable code */

/* ---- handles and basic types --------------------------------------------------------------- */

typedef struct mpix_comm       *MPI_Comm;
typedef struct mpix_group      *MPI_Group;
typedef struct mpix_datatype   *MPI_Datatype;
typedef struct mpix_op         *MPI_Op;
typedef struct mpix_request    *MPI_Request;
typedef struct mpix_errhandler *MPI_Errhandler;
typedef struct mpix_info       *MPI_Info;
typedef intptr_t MPI_Aint;
typedef int64_t  MPI_Offset;
typedef int64_t  MPI_Count;

typedef struct MPI_Status {
    int       MPI_SOURCE;
    int       MPI_TAG;
    int       MPI_ERROR;
    int       mpix_cancelled;
    MPI_Count mpix_bytes;                  /* bytes received: MPI_Get_count divides by the size */
} MPI_Status;

/* Attribute callbacks (MPI_Comm_create_keyval): COPY runs on MPI_Comm_dup (*flag = 1 keeps
 * *(void **)attribute_val_out on the new communicator), DELETE on free, delete or replacement. */
typedef int MPI_Comm_copy_attr_function(MPI_Comm oldcomm, int comm_keyval, void *extra_state,
                                        void *attribute_val_in, void *attribute_val_out,
                                        int *flag);
typedef int MPI_Comm_delete_attr_function(MPI_Comm comm, int comm_keyval, void *attribute_val,
                                          void *extra_state);
/* MPI-1's names of the same (deprecated, still in MPI-3.1). */
typedef MPI_Comm_copy_attr_function   MPI_Copy_function;
typedef MPI_Comm_delete_attr_function MPI_Delete_function;

/* A user reduction (MPI_Op_create): inoutvec[i] = invec[i] op inoutvec[i] for i < *len. */
typedef void MPI_User_function(void *invec, void *inoutvec, int *len, MPI_Datatype *datatype);

/* ---- predefined objects (defined by the library; use the MPI_ names) ----------------------- */

extern struct mpix_comm       mpix_comm_world, mpix_comm_self;
extern struct mpix_group      mpix_group_empty;
extern struct mpix_errhandler mpix_errhandler_fatal, mpix_errhandler_return;

extern struct mpix_datatype
    mpix_type_char, mpix_type_signed_char, mpix_type_unsigned_char, mpix_type_byte,
    mpix_type_wchar, mpix_type_short, mpix_type_unsigned_short, mpix_type_int,
    mpix_type_unsigned, mpix_type_long, mpix_type_unsigned_long, mpix_type_long_long_int,
    mpix_type_unsigned_long_long, mpix_type_float, mpix_type_double, mpix_type_long_double,
    mpix_type_c_bool, mpix_type_int8_t, mpix_type_int16_t, mpix_type_int32_t, mpix_type_int64_t,
    mpix_type_uint8_t, mpix_type_uint16_t, mpix_type_uint32_t, mpix_type_uint64_t,
    mpix_type_c_float_complex, mpix_type_c_double_complex, mpix_type_c_long_double_complex,
    mpix_type_aint, mpix_type_offset, mpix_type_count, mpix_type_packed,
    mpix_type_float_int, mpix_type_double_int, mpix_type_long_int, mpix_type_2int,
    mpix_type_short_int, mpix_type_long_double_int;

extern struct mpix_op
    mpix_op_max, mpix_op_min, mpix_op_sum, mpix_op_prod, mpix_op_land, mpix_op_band,
    mpix_op_lor, mpix_op_bor, mpix_op_lxor, mpix_op_bxor, mpix_op_maxloc, mpix_op_minloc;

MPI_Comm_copy_attr_function   mpix_comm_null_copy_fn, mpix_comm_dup_fn;
MPI_Comm_delete_attr_function mpix_comm_null_delete_fn;

/* ---- handles' constants -------------------------------------------------------------------- */

#define MPI_COMM_NULL       ((MPI_Comm)0)
#define MPI_GROUP_NULL      ((MPI_Group)0)
#define MPI_DATATYPE_NULL   ((MPI_Datatype)0)
#define MPI_OP_NULL         ((MPI_Op)0)
#define MPI_REQUEST_NULL    ((MPI_Request)0)
#define MPI_ERRHANDLER_NULL ((MPI_Errhandler)0)
#define MPI_INFO_NULL       ((MPI_Info)0)

#define MPI_COMM_WORLD       ((MPI_Comm)&mpix_comm_world)
#define MPI_COMM_SELF        ((MPI_Comm)&mpix_comm_self)
#define MPI_GROUP_EMPTY      ((MPI_Group)&mpix_group_empty)
#define MPI_ERRORS_ARE_FATAL ((MPI_Errhandler)&mpix_errhandler_fatal)
#define MPI_ERRORS_RETURN    ((MPI_Errhandler)&mpix_errhandler_return)

#define MPI_CHAR                   ((MPI_Datatype)&mpix_type_char)
#define MPI_SIGNED_CHAR            ((MPI_Datatype)&mpix_type_signed_char)
#define MPI_UNSIGNED_CHAR          ((MPI_Datatype)&mpix_type_unsigned_char)
#define MPI_BYTE                   ((MPI_Datatype)&mpix_type_byte)
#define MPI_WCHAR                  ((MPI_Datatype)&mpix_type_wchar)
#define MPI_SHORT                  ((MPI_Datatype)&mpix_type_short)
#define MPI_UNSIGNED_SHORT         ((MPI_Datatype)&mpix_type_unsigned_short)
#define MPI_INT                    ((MPI_Datatype)&mpix_type_int)
#define MPI_UNSIGNED               ((MPI_Datatype)&mpix_type_unsigned)
#define MPI_LONG                   ((MPI_Datatype)&mpix_type_long)
#define MPI_UNSIGNED_LONG          ((MPI_Datatype)&mpix_type_unsigned_long)
#define MPI_LONG_LONG_INT          ((MPI_Datatype)&mpix_type_long_long_int)
#define MPI_LONG_LONG              MPI_LONG_LONG_INT          /* a synonym in MPI-3.1 */
#define MPI_UNSIGNED_LONG_LONG     ((MPI_Datatype)&mpix_type_unsigned_long_long)
#define MPI_FLOAT                  ((MPI_Datatype)&mpix_type_float)
#define MPI_DOUBLE                 ((MPI_Datatype)&mpix_type_double)
#define MPI_LONG_DOUBLE            ((MPI_Datatype)&mpix_type_long_double)
#define MPI_C_BOOL                 ((MPI_Datatype)&mpix_type_c_bool)
#define MPI_INT8_T                 ((MPI_Datatype)&mpix_type_int8_t)
#define MPI_INT16_T                ((MPI_Datatype)&mpix_type_int16_t)
#define MPI_INT32_T                ((MPI_Datatype)&mpix_type_int32_t)
#define MPI_INT64_T                ((MPI_Datatype)&mpix_type_int64_t)
#define MPI_UINT8_T                ((MPI_Datatype)&mpix_type_uint8_t)
#define MPI_UINT16_T               ((MPI_Datatype)&mpix_type_uint16_t)
#define MPI_UINT32_T               ((MPI_Datatype)&mpix_type_uint32_t)
#define MPI_UINT64_T               ((MPI_Datatype)&mpix_type_uint64_t)
#define MPI_C_FLOAT_COMPLEX        ((MPI_Datatype)&mpix_type_c_float_complex)
#define MPI_C_COMPLEX              MPI_C_FLOAT_COMPLEX        /* a synonym in MPI-3.1 */
#define MPI_C_DOUBLE_COMPLEX       ((MPI_Datatype)&mpix_type_c_double_complex)
#define MPI_C_LONG_DOUBLE_COMPLEX  ((MPI_Datatype)&mpix_type_c_long_double_complex)
#define MPI_AINT                   ((MPI_Datatype)&mpix_type_aint)
#define MPI_OFFSET                 ((MPI_Datatype)&mpix_type_offset)
#define MPI_COUNT                  ((MPI_Datatype)&mpix_type_count)
#define MPI_PACKED                 ((MPI_Datatype)&mpix_type_packed)
#define MPI_FLOAT_INT              ((MPI_Datatype)&mpix_type_float_int)
#define MPI_DOUBLE_INT             ((MPI_Datatype)&mpix_type_double_int)
#define MPI_LONG_INT               ((MPI_Datatype)&mpix_type_long_int)
#define MPI_2INT                   ((MPI_Datatype)&mpix_type_2int)
#define MPI_SHORT_INT              ((MPI_Datatype)&mpix_type_short_int)
#define MPI_LONG_DOUBLE_INT        ((MPI_Datatype)&mpix_type_long_double_int)

#define MPI_COMM_NULL_COPY_FN   mpix_comm_null_copy_fn
#define MPI_COMM_DUP_FN         mpix_comm_dup_fn
#define MPI_COMM_NULL_DELETE_FN mpix_comm_null_delete_fn
#define MPI_NULL_COPY_FN        mpix_comm_null_copy_fn     /* MPI-1's names */
#define MPI_DUP_FN              mpix_comm_dup_fn
#define MPI_NULL_DELETE_FN      mpix_comm_null_delete_fn

#define MPI_MAX    ((MPI_Op)&mpix_op_max)
#define MPI_MIN    ((MPI_Op)&mpix_op_min)
#define MPI_SUM    ((MPI_Op)&mpix_op_sum)
#define MPI_PROD   ((MPI_Op)&mpix_op_prod)
#define MPI_LAND   ((MPI_Op)&mpix_op_land)
#define MPI_BAND   ((MPI_Op)&mpix_op_band)
#define MPI_LOR    ((MPI_Op)&mpix_op_lor)
#define MPI_BOR    ((MPI_Op)&mpix_op_bor)
#define MPI_LXOR   ((MPI_Op)&mpix_op_lxor)
#define MPI_BXOR   ((MPI_Op)&mpix_op_bxor)
#define MPI_MAXLOC ((MPI_Op)&mpix_op_maxloc)
#define MPI_MINLOC ((MPI_Op)&mpix_op_minloc)

/* ---- other constants ----------------------------------------------------------------------- */

#define MPI_ANY_SOURCE   (-1)
#define MPI_ANY_TAG      (-1)
#define MPI_PROC_NULL    (-2)
#define MPI_ROOT         (-3)
#define MPI_UNDEFINED    (-32766)
#define MPI_TAG_UB_VALUE 0x7fffffff            /* tags are 0..this (MPI_TAG_UB's value) */

/* Predefined attribute keyvals (MPI_Comm_get_attr on MPI_COMM_WORLD gives a pointer to an int). */
#define MPI_KEYVAL_INVALID  (-1)
#define MPI_TAG_UB          1
#define MPI_HOST            2
#define MPI_IO              3
#define MPI_WTIME_IS_GLOBAL 4
#define MPI_UNIVERSE_SIZE   5
#define MPI_APPNUM          6

#define MPI_STATUS_IGNORE   ((MPI_Status *)0)
#define MPI_STATUSES_IGNORE ((MPI_Status *)0)
#define MPI_IN_PLACE        ((void *)1)
#define MPI_BOTTOM          ((void *)0)

#define MPI_THREAD_SINGLE     0
#define MPI_THREAD_FUNNELED   1
#define MPI_THREAD_SERIALIZED 2
#define MPI_THREAD_MULTIPLE   3

#define MPI_IDENT     0                        /* MPI_Comm_compare, MPI_Group_compare results */
#define MPI_CONGRUENT 1
#define MPI_SIMILAR   2
#define MPI_UNEQUAL   3

#define MPI_MAX_PROCESSOR_NAME         256
#define MPI_MAX_ERROR_STRING           512
#define MPI_MAX_LIBRARY_VERSION_STRING 256
#define MPI_MAX_INFO_KEY               255     /* an info key's length, NUL not counted */
#define MPI_MAX_INFO_VAL               1024    /* an info value's length, NUL not counted */

#define MPI_COMM_TYPE_SHARED 1                 /* MPI_Comm_split_type: the ranks of one node */

/* Error classes (MPICH's numbering). */
#define MPI_SUCCESS       0
#define MPI_ERR_BUFFER    1
#define MPI_ERR_COUNT     2
#define MPI_ERR_TYPE      3
#define MPI_ERR_TAG       4
#define MPI_ERR_COMM      5
#define MPI_ERR_RANK      6
#define MPI_ERR_ROOT      7
#define MPI_ERR_GROUP     8
#define MPI_ERR_OP        9
#define MPI_ERR_TOPOLOGY  10
#define MPI_ERR_DIMS      11
#define MPI_ERR_ARG       12
#define MPI_ERR_UNKNOWN   13
#define MPI_ERR_TRUNCATE  14
#define MPI_ERR_OTHER     15
#define MPI_ERR_INTERN    16
#define MPI_ERR_IN_STATUS 17
#define MPI_ERR_PENDING   18
#define MPI_ERR_REQUEST   19
#define MPI_ERR_INFO      28
#define MPI_ERR_INFO_KEY  29
#define MPI_ERR_INFO_VALUE 30
#define MPI_ERR_INFO_NOKEY 31
#define MPI_ERR_NO_MEM    34
#define MPI_ERR_KEYVAL    48
#define MPI_ERR_LASTCODE  0x3fffffff

/* ---- environment and errors ---------------------------------------------------------------- */

int    MPI_Init(int *argc, char ***argv);
int    MPI_Init_thread(int *argc, char ***argv, int required, int *provided);
int    MPI_Query_thread(int *provided);
int    MPI_Finalize(void);
int    MPI_Initialized(int *flag);
int    MPI_Finalized(int *flag);
int    MPI_Abort(MPI_Comm comm, int errorcode);
double MPI_Wtime(void);
double MPI_Wtick(void);
int    MPI_Get_processor_name(char *name, int *resultlen);
int    MPI_Get_version(int *version, int *subversion);
int    MPI_Get_library_version(char *version, int *resultlen);
int    MPI_Comm_set_errhandler(MPI_Comm comm, MPI_Errhandler errhandler);
int    MPI_Comm_get_errhandler(MPI_Comm comm, MPI_Errhandler *errhandler);
int    MPI_Errhandler_free(MPI_Errhandler *errhandler);
int    MPI_Error_string(int errorcode, char *string, int *resultlen);
int    MPI_Error_class(int errorcode, int *errorclass);
int    MPI_Alloc_mem(MPI_Aint size, MPI_Info info, void *baseptr);
int    MPI_Free_mem(void *base);

/* ---- communicators and groups -------------------------------------------------------------- */

int MPI_Comm_rank(MPI_Comm comm, int *rank);
int MPI_Comm_size(MPI_Comm comm, int *size);
int MPI_Comm_dup(MPI_Comm comm, MPI_Comm *newcomm);
int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm *newcomm);
int MPI_Comm_split_type(MPI_Comm comm, int split_type, int key, MPI_Info info,
                        MPI_Comm *newcomm);
int MPI_Comm_free(MPI_Comm *comm);
int MPI_Comm_compare(MPI_Comm comm1, MPI_Comm comm2, int *result);
int MPI_Comm_group(MPI_Comm comm, MPI_Group *group);
int MPI_Group_incl(MPI_Group group, int n, const int ranks[], MPI_Group *newgroup);
int MPI_Group_free(MPI_Group *group);
int MPI_Group_size(MPI_Group group, int *size);
int MPI_Group_rank(MPI_Group group, int *rank);

/* ---- info objects ------------------------------------------------------------------------ */

int MPI_Info_create(MPI_Info *info);
int MPI_Info_set(MPI_Info info, const char *key, const char *value);
int MPI_Info_get(MPI_Info info, const char *key, int valuelen, char *value, int *flag);
int MPI_Info_get_valuelen(MPI_Info info, const char *key, int *valuelen, int *flag);
int MPI_Info_delete(MPI_Info info, const char *key);
int MPI_Info_get_nkeys(MPI_Info info, int *nkeys);
int MPI_Info_get_nthkey(MPI_Info info, int n, char *key);
int MPI_Info_dup(MPI_Info info, MPI_Info *newinfo);
int MPI_Info_free(MPI_Info *info);

/* ---- attributes ---------------------------------------------------------------------------- */

int MPI_Comm_create_keyval(MPI_Comm_copy_attr_function *comm_copy_attr_fn,
                           MPI_Comm_delete_attr_function *comm_delete_attr_fn, int *comm_keyval,
                           void *extra_state);
int MPI_Comm_free_keyval(int *comm_keyval);
int MPI_Comm_set_attr(MPI_Comm comm, int comm_keyval, void *attribute_val);
int MPI_Comm_get_attr(MPI_Comm comm, int comm_keyval, void *attribute_val, int *flag);
int MPI_Comm_delete_attr(MPI_Comm comm, int comm_keyval);
/* MPI-1's names (deprecated, still in MPI-3.1): the same functions. */
int MPI_Keyval_create(MPI_Copy_function *copy_fn, MPI_Delete_function *delete_fn, int *keyval,
                      void *extra_state);
int MPI_Keyval_free(int *keyval);
int MPI_Attr_put(MPI_Comm comm, int keyval, void *attribute_val);
int MPI_Attr_get(MPI_Comm comm, int keyval, void *attribute_val, int *flag);
int MPI_Attr_delete(MPI_Comm comm, int keyval);

/* ---- point to point ------------------------------------------------------------------------ */

int MPI_Send(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm);
int MPI_Ssend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm);
int MPI_Recv(void *buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
             MPI_Status *status);
int MPI_Isend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
              MPI_Request *request);
int MPI_Issend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag,
               MPI_Comm comm, MPI_Request *request);
int MPI_Irecv(void *buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
              MPI_Request *request);
int MPI_Sendrecv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, int dest,
                 int sendtag, void *recvbuf, int recvcount, MPI_Datatype recvtype, int source,
                 int recvtag, MPI_Comm comm, MPI_Status *status);
int MPI_Sendrecv_replace(void *buf, int count, MPI_Datatype datatype, int dest, int sendtag,
                         int source, int recvtag, MPI_Comm comm, MPI_Status *status);
int MPI_Wait(MPI_Request *request, MPI_Status *status);
int MPI_Waitall(int count, MPI_Request array_of_requests[], MPI_Status array_of_statuses[]);
int MPI_Waitany(int count, MPI_Request array_of_requests[], int *indx, MPI_Status *status);
int MPI_Waitsome(int incount, MPI_Request array_of_requests[], int *outcount,
                 int array_of_indices[], MPI_Status array_of_statuses[]);
int MPI_Testsome(int incount, MPI_Request array_of_requests[], int *outcount,
                 int array_of_indices[], MPI_Status array_of_statuses[]);
int MPI_Test(MPI_Request *request, int *flag, MPI_Status *status);
int MPI_Testall(int count, MPI_Request array_of_requests[], int *flag,
                MPI_Status array_of_statuses[]);
int MPI_Testany(int count, MPI_Request array_of_requests[], int *indx, int *flag,
                MPI_Status *status);
int MPI_Probe(int source, int tag, MPI_Comm comm, MPI_Status *status);
int MPI_Iprobe(int source, int tag, MPI_Comm comm, int *flag, MPI_Status *status);
int MPI_Get_count(const MPI_Status *status, MPI_Datatype datatype, int *count);
int MPI_Cancel(MPI_Request *request);
int MPI_Test_cancelled(const MPI_Status *status, int *flag);
int MPI_Request_free(MPI_Request *request);
int MPI_Send_init(const void *buf, int count, MPI_Datatype datatype, int dest, int tag,
                  MPI_Comm comm, MPI_Request *request);
int MPI_Ssend_init(const void *buf, int count, MPI_Datatype datatype, int dest, int tag,
                   MPI_Comm comm, MPI_Request *request);
int MPI_Recv_init(void *buf, int count, MPI_Datatype datatype, int source, int tag,
                  MPI_Comm comm, MPI_Request *request);
int MPI_Start(MPI_Request *request);
int MPI_Startall(int count, MPI_Request array_of_requests[]);

/* ---- datatypes ----------------------------------------------------------------------------- */

int MPI_Type_contiguous(int count, MPI_Datatype oldtype, MPI_Datatype *newtype);
int MPI_Type_vector(int count, int blocklength, int stride, MPI_Datatype oldtype,
                    MPI_Datatype *newtype);
int MPI_Type_indexed(int count, const int array_of_blocklengths[],
                     const int array_of_displacements[], MPI_Datatype oldtype,
                     MPI_Datatype *newtype);
int MPI_Type_create_struct(int count, const int array_of_blocklengths[],
                           const MPI_Aint array_of_displacements[],
                           const MPI_Datatype array_of_types[], MPI_Datatype *newtype);
int MPI_Type_create_resized(MPI_Datatype oldtype, MPI_Aint lb, MPI_Aint extent,
                            MPI_Datatype *newtype);
int MPI_Type_commit(MPI_Datatype *datatype);
int MPI_Type_free(MPI_Datatype *datatype);
int MPI_Type_size(MPI_Datatype datatype, int *size);
int MPI_Type_get_extent(MPI_Datatype datatype, MPI_Aint *lb, MPI_Aint *extent);
int MPI_Get_address(const void *location, MPI_Aint *address);
int MPI_Type_create_hvector(int count, int blocklength, MPI_Aint stride, MPI_Datatype oldtype,
                            MPI_Datatype *newtype);
int MPI_Type_create_hindexed(int count, const int array_of_blocklengths[],
                             const MPI_Aint array_of_displacements[], MPI_Datatype oldtype,
                             MPI_Datatype *newtype);
int MPI_Type_create_indexed_block(int count, int blocklength, const int array_of_displacements[],
                                  MPI_Datatype oldtype, MPI_Datatype *newtype);
int MPI_Type_create_hindexed_block(int count, int blocklength,
                                   const MPI_Aint array_of_displacements[], MPI_Datatype oldtype,
                                   MPI_Datatype *newtype);
int MPI_Type_dup(MPI_Datatype oldtype, MPI_Datatype *newtype);
int MPI_Type_size_x(MPI_Datatype datatype, MPI_Count *size);
int MPI_Type_get_extent_x(MPI_Datatype datatype, MPI_Count *lb, MPI_Count *extent);
int MPI_Type_get_true_extent(MPI_Datatype datatype, MPI_Aint *true_lb, MPI_Aint *true_extent);
int MPI_Type_get_true_extent_x(MPI_Datatype datatype, MPI_Count *true_lb,
                               MPI_Count *true_extent);
int MPI_Get_elements(const MPI_Status *status, MPI_Datatype datatype, int *count);
int MPI_Get_elements_x(const MPI_Status *status, MPI_Datatype datatype, MPI_Count *count);
int MPI_Pack(const void *inbuf, int incount, MPI_Datatype datatype, void *outbuf, int outsize,
             int *position, MPI_Comm comm);
int MPI_Unpack(const void *inbuf, int insize, int *position, void *outbuf, int outcount,
               MPI_Datatype datatype, MPI_Comm comm);
int MPI_Pack_size(int incount, MPI_Datatype datatype, MPI_Comm comm, int *size);

/* ---- reduction operations ------------------------------------------------------------------ */

int MPI_Op_create(MPI_User_function *user_fn, int commute, MPI_Op *op);
int MPI_Op_free(MPI_Op *op);
int MPI_Op_commutative(MPI_Op op, int *commute);
int MPI_Reduce_local(const void *inbuf, void *inoutbuf, int count, MPI_Datatype datatype,
                     MPI_Op op);

/* ---- collectives, blocking ----------------------------------------------------------------- */

int MPI_Barrier(MPI_Comm comm);
int MPI_Bcast(void *buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm);
int MPI_Reduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
               int root, MPI_Comm comm);
int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype,
                  MPI_Op op, MPI_Comm comm);
int MPI_Gather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
               int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm);
int MPI_Gatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                const int recvcounts[], const int displs[], MPI_Datatype recvtype, int root,
                MPI_Comm comm);
int MPI_Scatter(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm);
int MPI_Scatterv(const void *sendbuf, const int sendcounts[], const int displs[],
                 MPI_Datatype sendtype, void *recvbuf, int recvcount, MPI_Datatype recvtype,
                 int root, MPI_Comm comm);
int MPI_Allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                  int recvcount, MPI_Datatype recvtype, MPI_Comm comm);
int MPI_Allgatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                   const int recvcounts[], const int displs[], MPI_Datatype recvtype,
                   MPI_Comm comm);
int MPI_Alltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                 int recvcount, MPI_Datatype recvtype, MPI_Comm comm);
int MPI_Alltoallv(const void *sendbuf, const int sendcounts[], const int sdispls[],
                  MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
                  const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm);
int MPI_Reduce_scatter(const void *sendbuf, void *recvbuf, const int recvcounts[],
                       MPI_Datatype datatype, MPI_Op op, MPI_Comm comm);
int MPI_Reduce_scatter_block(const void *sendbuf, void *recvbuf, int recvcount,
                             MPI_Datatype datatype, MPI_Op op, MPI_Comm comm);
int MPI_Scan(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
             MPI_Comm comm);
int MPI_Exscan(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
               MPI_Comm comm);

/* ---- collectives, non-blocking ------------------------------------------------------------- */

int MPI_Ibarrier(MPI_Comm comm, MPI_Request *request);
int MPI_Ibcast(void *buffer, int count, MPI_Datatype datatype, int root, MPI_Comm comm,
               MPI_Request *request);
int MPI_Ireduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
                int root, MPI_Comm comm, MPI_Request *request);
int MPI_Iallreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype,
                   MPI_Op op, MPI_Comm comm, MPI_Request *request);
int MPI_Igather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm,
                MPI_Request *request);
int MPI_Igatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                 const int recvcounts[], const int displs[], MPI_Datatype recvtype, int root,
                 MPI_Comm comm, MPI_Request *request);
int MPI_Iscatter(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                 int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm,
                 MPI_Request *request);
int MPI_Iscatterv(const void *sendbuf, const int sendcounts[], const int displs[],
                  MPI_Datatype sendtype, void *recvbuf, int recvcount, MPI_Datatype recvtype,
                  int root, MPI_Comm comm, MPI_Request *request);
int MPI_Iallgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                   int recvcount, MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *request);
int MPI_Iallgatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                    const int recvcounts[], const int displs[], MPI_Datatype recvtype,
                    MPI_Comm comm, MPI_Request *request);
int MPI_Ialltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                  int recvcount, MPI_Datatype recvtype, MPI_Comm comm, MPI_Request *request);
int MPI_Ialltoallv(const void *sendbuf, const int sendcounts[], const int sdispls[],
                   MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
                   const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm,
                   MPI_Request *request);
int MPI_Ireduce_scatter(const void *sendbuf, void *recvbuf, const int recvcounts[],
                        MPI_Datatype datatype, MPI_Op op, MPI_Comm comm, MPI_Request *request);
int MPI_Ireduce_scatter_block(const void *sendbuf, void *recvbuf, int recvcount,
                              MPI_Datatype datatype, MPI_Op op, MPI_Comm comm,
                              MPI_Request *request);
int MPI_Iscan(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
              MPI_Comm comm, MPI_Request *request);
int MPI_Iexscan(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
                MPI_Comm comm, MPI_Request *request);

#ifdef __cplusplus
}
#endif

#endif /* MPI_H_INCLUDED */
