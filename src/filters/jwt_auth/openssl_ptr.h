// unique_ptr for OpenSSL objects, each freed by its own *_free function.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <memory>

namespace portico::jwt {

template <auto free_function>
struct OpensslFree {
  template <typename T>
  void operator()(T* object) const {
    free_function(object);
  }
};

template <typename T, auto free_function>
using OpensslPtr = std::unique_ptr<T, OpensslFree<free_function>>;

using PkeyPtr = OpensslPtr<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = OpensslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtxPtr = OpensslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using MdPtr = OpensslPtr<EVP_MD, EVP_MD_free>;
using MacPtr = OpensslPtr<EVP_MAC, EVP_MAC_free>;
using MacCtxPtr = OpensslPtr<EVP_MAC_CTX, EVP_MAC_CTX_free>;
using BioPtr = OpensslPtr<BIO, BIO_free_all>;
using X509Ptr = OpensslPtr<X509, X509_free>;
using BignumPtr = OpensslPtr<BIGNUM, BN_free>;
using EcdsaSigPtr = OpensslPtr<ECDSA_SIG, ECDSA_SIG_free>;
using ParamBuildPtr = OpensslPtr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamsPtr = OpensslPtr<OSSL_PARAM, OSSL_PARAM_free>;

}  // namespace portico::jwt
